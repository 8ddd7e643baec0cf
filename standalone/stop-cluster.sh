#!/usr/bin/env bash
# Stop the master and workers that start-cluster.sh started (by their pid files).
#
# Environment: OPTUNA_SPARK_CLUSTER_DIR (./.spark-cluster in the repository).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
dir="${OPTUNA_SPARK_CLUSTER_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.spark-cluster}"
stopped=0
for pidfile in "$dir"/worker-*.pid "$dir"/master.pid; do
  [[ -s "$pidfile" ]] || continue
  pid="$(cat "$pidfile")"
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    stopped=$((stopped + 1))
  fi
  rm -f "$pidfile"
done
echo "stopped $stopped Spark daemon(s)"
