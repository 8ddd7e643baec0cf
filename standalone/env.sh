# Shared settings of the standalone scripts; sourced, not run. Every value can be set in the
# environment first; the defaults suit one machine.
# shellcheck shell=bash

# The Python that has optuna-spark installed (the project's .venv when there is one).
_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$_repo/.venv/bin/python" ]]; then PYTHON="$_repo/.venv/bin/python"; else PYTHON="python3"; fi
fi
# Spark: $SPARK_HOME, else the pip-installed pyspark's own copy.
if [[ -z "${SPARK_HOME:-}" ]]; then
  SPARK_HOME="$("$PYTHON" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null)" ||
    { echo "standalone: pyspark is not installed for $PYTHON; set SPARK_HOME or pip install 'optuna-spark[spark]'." >&2; exit 1; }
fi
SPARK_MASTER_HOST="${SPARK_MASTER_HOST:-127.0.0.1}"
SPARK_MASTER_PORT="${SPARK_MASTER_PORT:-7077}"
SPARK_MASTER_WEBUI_PORT="${SPARK_MASTER_WEBUI_PORT:-8080}"
SPARK_MASTER_URL="${SPARK_MASTER_URL:-spark://$SPARK_MASTER_HOST:$SPARK_MASTER_PORT}"
# Where the scripts keep pid files and logs of the daemons they start.
OPTUNA_SPARK_CLUSTER_DIR="${OPTUNA_SPARK_CLUSTER_DIR:-$_repo/.spark-cluster}"
export PYTHON SPARK_HOME SPARK_MASTER_HOST SPARK_MASTER_PORT SPARK_MASTER_WEBUI_PORT \
  SPARK_MASTER_URL OPTUNA_SPARK_CLUSTER_DIR
# Executors run this Python unless a packed environment is shipped (ARCHIVE).
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$PYTHON}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$PYTHON}"

# spark-submit `optuna-spark run` to $SPARK_MASTER_URL. Arguments: the spark-submit options
# particular to the caller, then `--`, then the arguments of `optuna-spark run`. The database
# password stays in the environment (OPTUNA_SPARK_DB_PASSWORD) or a file: the driver reads it
# and ships it inside the worker tasks, so it is on no command line and not in the Spark UI.
submit_optuna_spark() {
  local submit_opts=() run_args=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do submit_opts+=("$1"); shift; done
  [[ "${1:-}" == "--" ]] && shift
  run_args=("$@")
  if [[ -z "${OPTUNA_SPARK_STORAGE:-}" ]]; then
    echo "standalone: set OPTUNA_SPARK_STORAGE to a database every executor reaches, e.g. mysql://optuna_user@DRIVER_IP/optuna (scripts/setup-mysql.sh creates one)." >&2
    exit 2
  fi
  local opts=(--master "$SPARK_MASTER_URL" --deploy-mode client
    --conf "spark.executor.cores=${EXECUTOR_CORES:-1}" --conf "spark.task.cpus=${TASK_CPUS:-${EXECUTOR_CORES:-1}}"
    --conf "spark.executor.memory=${EXECUTOR_MEMORY:-1g}" --conf spark.ui.showConsoleProgress=false)
  if [[ -n "${SPARK_DRIVER_HOST:-}" ]]; then
    opts+=(--conf "spark.driver.host=$SPARK_DRIVER_HOST" --conf "spark.driver.bindAddress=$SPARK_DRIVER_HOST")
  fi
  if [[ -n "${ARCHIVE:-}" ]]; then
    [[ -f "$ARCHIVE" ]] || { echo "standalone: ARCHIVE $ARCHIVE does not exist; build it with optuna-spark pack-env." >&2; exit 2; }
    # Executors unpack the environment as ./environment and run its Python.
    # spark.pyspark.python would apply to the driver too: keep the driver on $PYTHON.
    opts+=(--archives "$ARCHIVE#environment" --conf spark.pyspark.python=./environment/bin/python
      --conf "spark.pyspark.driver.python=$PYTHON")
  fi
  local package
  package="$("$PYTHON" -c 'import importlib.util; print(importlib.util.find_spec("optuna_spark").submodule_search_locations[0])')" ||
    { echo "standalone: optuna-spark is not installed for $PYTHON; set PYTHON." >&2; exit 2; }
  # The driver logs errors only (Spark's INFO chatter would bury the progress lines).
  opts+=(--conf "spark.driver.extraJavaOptions=-Dlog4j2.configurationFile=file:$package/resources/log4j2.properties")
  "$SPARK_HOME/bin/spark-submit" "${opts[@]}" "${submit_opts[@]}" "$package/__main__.py" run "${run_args[@]}"
}
