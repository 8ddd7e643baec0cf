#!/usr/bin/env bash
# Smoke-test a deployment: run a tiny quadratic study through the cluster against the shared
# storage, check that exactly N trials landed in it, then delete the study again.
#
# Usage: scripts/smoke-test.sh [--master URL] [--storage URL] [--trials N] [--backend NAME]
#   --master    Spark master [the active session, else local[*]]
#   --storage   study storage [$OPTUNA_SPARK_STORAGE, else a SQLite file here]
#   --trials    4
#   --backend   rdd
# The database password comes from OPTUNA_SPARK_DB_PASSWORD or OPTUNA_SPARK_PASSWORD_FILE, as
# for optuna-spark itself; it is never printed. PYTHON picks the interpreter [./.venv/bin/python].
set -euo pipefail
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$([[ -x "$root/.venv/bin/python" ]] && echo "$root/.venv/bin/python" || echo python3)}"
trials=4 backend=rdd common=() run=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --master) run+=(--master "$2"); shift 2 ;;
    --storage) common+=(--storage "$2"); shift 2 ;;
    --trials) trials="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "smoke-test: unknown option $1; see --help." >&2; exit 2 ;;
  esac
done
if [[ -n "${OPTUNA_SPARK_PASSWORD_FILE:-}" ]]; then common+=(--password-file "$OPTUNA_SPARK_PASSWORD_FILE"); fi
study="smoke-$(date +%s)-$$"
cli() { "$python" -m optuna_spark "$@"; }

cli run --objective quadratic --study-name "$study" --trials "$trials" --backend "$backend" --quiet \
  "${common[@]}" "${run[@]}" >/dev/null
summary="$(cli studies --format csv "${common[@]}" | grep "^$study,")"
complete="$(cut -d, -f3 <<<"$summary")"  # name,direction,complete,...
cli delete-study --study-name "$study" --yes "${common[@]}" >/dev/null
if [[ "$complete" == "$trials" ]]; then
  echo "smoke test passed: $trials of $trials trials completed through $backend"
else
  echo "smoke test FAILED: $complete of $trials trials completed (study line: $summary)" >&2
  exit 1
fi
