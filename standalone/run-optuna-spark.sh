#!/usr/bin/env bash
# Submit a quadratic study (CPU) to a standalone cluster with spark-submit: a quick check that
# the cluster, the Python environment and the shared storage work together.
#
# Environment (defaults):
#   SPARK_MASTER_URL           spark://127.0.0.1:7077
#   OPTUNA_SPARK_STORAGE       required: a database every executor reaches, for example
#                              mysql://optuna_user@DRIVER_IP/optuna (scripts/setup-mysql.sh)
#   OPTUNA_SPARK_DB_PASSWORD   its password (or OPTUNA_SPARK_DB_PASSWORD_FILE, a file holding it);
#                              read by the driver, shipped inside the tasks, never echoed
#   STUDY_NAME                 quadratic-standalone
#   TRIALS                     100 (the study's total budget; rerunning resumes)
#   TASKS                      the cluster's task slots
#   BACKEND                    rdd (or joblibspark, dataframe)
#   EXECUTOR_CORES             1 (cores per executor)
#   TASK_CPUS                  EXECUTOR_CORES (cores per task: one task per executor)
#   EXECUTOR_MEMORY            1g
#   SPARK_DRIVER_HOST          the address executors reach the driver on [Spark's choice]
#   ARCHIVE                    a packed environment (optuna-spark pack-env) for the executors
#   PYTHON                     the driver's Python with optuna-spark [./.venv/bin/python]
# Further arguments go to `optuna-spark run`.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
# shellcheck source=standalone/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

args=(--objective quadratic --backend "${BACKEND:-rdd}" --study-name "${STUDY_NAME:-quadratic-standalone}"
  --trials "${TRIALS:-100}" --progress log)
[[ -n "${TASKS:-}" ]] && args+=(--tasks "$TASKS")
submit_optuna_spark --name optuna-spark-quadratic -- "${args[@]}" "$@"
