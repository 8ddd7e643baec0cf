#!/usr/bin/env bash
# Start a Spark standalone cluster on this machine: one master and N workers, as background
# daemons with pid files and logs under $OPTUNA_SPARK_CLUSTER_DIR. Works with a full
# $SPARK_HOME or the pip-installed pyspark (which ships no sbin/start-*.sh).
#
# Environment (defaults):
#   SPARK_HOME                 the installed pyspark's directory
#   SPARK_MASTER_HOST          127.0.0.1 (the address workers and drivers reach the master on)
#   SPARK_MASTER_PORT          7077
#   SPARK_MASTER_WEBUI_PORT    8080
#   SPARK_WORKER_INSTANCES     1
#   SPARK_WORKER_CORES         all cores of this machine
#   SPARK_WORKER_MEMORY        2g
#   SPARK_WORKER_WEBUI_PORT    8081 (worker i uses this + i)
#   SPARK_WORKER_GPUS          0; with N > 0 each worker offers N GPUs found by
#   SPARK_GPU_DISCOVERY_SCRIPT the one optuna-spark ships (optuna-spark gpu-discovery-script)
#   OPTUNA_SPARK_CLUSTER_DIR   ./.spark-cluster in the repository (pids, logs, work dirs)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
# shellcheck source=standalone/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

workers="${SPARK_WORKER_INSTANCES:-1}"
cores="${SPARK_WORKER_CORES:-$(nproc)}"
memory="${SPARK_WORKER_MEMORY:-2g}"
worker_ui="${SPARK_WORKER_WEBUI_PORT:-8081}"
gpus="${SPARK_WORKER_GPUS:-0}"
mkdir -p "$OPTUNA_SPARK_CLUSTER_DIR"

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

daemon() {  # name, class, args...
  local name="$1" class="$2"; shift 2
  local pidfile="$OPTUNA_SPARK_CLUSTER_DIR/$name.pid"
  if [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "$name is already running (pid $(cat "$pidfile"))"; return 0
  fi
  nohup "$SPARK_HOME/bin/spark-class" "$class" "$@" >"$OPTUNA_SPARK_CLUSTER_DIR/$name.log" 2>&1 &
  echo $! >"$pidfile"
}

daemon master org.apache.spark.deploy.master.Master \
  --host "$SPARK_MASTER_HOST" --port "$SPARK_MASTER_PORT" --webui-port "$SPARK_MASTER_WEBUI_PORT"
for _ in $(seq 1 300); do port_open "$SPARK_MASTER_HOST" "$SPARK_MASTER_PORT" && break; sleep 0.1; done
port_open "$SPARK_MASTER_HOST" "$SPARK_MASTER_PORT" ||
  { echo "start-cluster: the master did not open port $SPARK_MASTER_PORT; see $OPTUNA_SPARK_CLUSTER_DIR/master.log" >&2; exit 1; }

worker_opts=""
if [[ "$gpus" != "0" ]]; then
  discovery="${SPARK_GPU_DISCOVERY_SCRIPT:-$("$PYTHON" -m optuna_spark gpu-discovery-script)}"
  [[ -x "$discovery" ]] || { echo "start-cluster: GPU discovery script $discovery is missing or not executable; set SPARK_GPU_DISCOVERY_SCRIPT." >&2; exit 1; }
  worker_opts="-Dspark.worker.resource.gpu.amount=$gpus -Dspark.worker.resource.gpu.discoveryScript=$discovery"
fi
for i in $(seq 1 "$workers"); do
  mkdir -p "$OPTUNA_SPARK_CLUSTER_DIR/work-$i"
  SPARK_WORKER_OPTS="$worker_opts" daemon "worker-$i" org.apache.spark.deploy.worker.Worker \
    --host "$SPARK_MASTER_HOST" --cores "$cores" --memory "$memory" \
    --webui-port "$((worker_ui + i - 1))" --work-dir "$OPTUNA_SPARK_CLUSTER_DIR/work-$i" \
    "$SPARK_MASTER_URL"
done

# Ready when the master lists every worker as alive.
for _ in $(seq 1 300); do
  alive="$("$PYTHON" - "$SPARK_MASTER_HOST" "$SPARK_MASTER_WEBUI_PORT" <<'PY' 2>/dev/null || echo 0
import json, sys, urllib.request
with urllib.request.urlopen(f"http://{sys.argv[1]}:{sys.argv[2]}/json/", timeout=2) as r:
    print(json.load(r).get("aliveworkers", 0))
PY
)"
  [[ "$alive" -ge "$workers" ]] && break
  sleep 0.2
done
[[ "$alive" -ge "$workers" ]] ||
  { echo "start-cluster: only $alive of $workers worker(s) registered; see $OPTUNA_SPARK_CLUSTER_DIR/worker-*.log" >&2; exit 1; }
echo "Spark standalone cluster up: $SPARK_MASTER_URL, $workers worker(s) x $cores core(s)$([[ "$gpus" != 0 ]] && echo " x $gpus GPU(s)"), UI http://$SPARK_MASTER_HOST:$SPARK_MASTER_WEBUI_PORT"
