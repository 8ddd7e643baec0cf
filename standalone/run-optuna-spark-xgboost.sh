#!/usr/bin/env bash
# Submit the XGBoost study to a standalone cluster with spark-submit, GPU-ready.
#
# Environment (defaults), besides those of run-optuna-spark.sh:
#   DATA                       the data set (CSV or Parquet) [the bundled red wine CSV]; it must
#                              be readable at this path on every executor, or use
#                              BACKEND=dataframe with an hdfs:// or s3a:// path Spark reads
#   LABEL                      the label column [the last one]
#   STUDY_NAME                 xgboost-standalone
#   TRIALS                     100
#   BACKEND                    joblibspark (rdd when TASK_GPUS is a fraction)
#   JOBS                       every worker at once (joblibspark: Spark jobs at a time)
#   NUM_BOOST_ROUND            1000
#   DEVICE                     auto (cuda where the executors have a GPU and CUDA XGBoost)
#   EXECUTOR_GPUS              0; with N > 0: spark.executor.resource.gpu.amount=N and
#   TASK_GPUS                  1 GPU per task (0.5: two tasks share a GPU), found by
#   SPARK_GPU_DISCOVERY_SCRIPT the one optuna-spark ships (optuna-spark gpu-discovery-script);
#                              each executor then runs EXECUTOR_GPUS / TASK_GPUS tasks at once,
#                              with EXECUTOR_CORES [that many] split evenly between them
#                              (TASK_CPUS), and gets LIBCUDF_CUFILE_POLICY (default OFF) for cuDF
# Further arguments go to `optuna-spark run`.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
# shellcheck source=standalone/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

submit=(--name optuna-spark-xgboost)
gpus="${EXECUTOR_GPUS:-0}"
backend="${BACKEND:-joblibspark}"
if [[ "$gpus" != "0" ]]; then
  task_gpus="${TASK_GPUS:-1}"
  discovery="${SPARK_GPU_DISCOVERY_SCRIPT:-$("$PYTHON" -m optuna_spark gpu-discovery-script)}"
  # Tasks one executor's GPUs hold at once; without enough cores for them (spark.task.cpus
  # equal to the executor's cores, say) GPUs would sit idle.
  read -r per_executor fraction < <("$PYTHON" -c 'import sys
from optuna_spark.plan import gpus_per_executor_slots
gpus, task = float(sys.argv[1]), float(sys.argv[2])
print(max(1, gpus_per_executor_slots(gpus, task)), int(0 < task < 1))' "$gpus" "$task_gpus")
  EXECUTOR_CORES="${EXECUTOR_CORES:-$per_executor}"
  TASK_CPUS="${TASK_CPUS:-$(( EXECUTOR_CORES / per_executor > 0 ? EXECUTOR_CORES / per_executor : 1 ))}"
  export EXECUTOR_CORES TASK_CPUS
  # joblibspark cannot ask for a fraction of a GPU; the rdd backend shares them.
  [[ "$fraction" == 1 && -z "${BACKEND:-}" ]] && backend=rdd
  submit+=(--conf "spark.executor.resource.gpu.amount=$gpus"
    --conf "spark.task.resource.gpu.amount=$task_gpus"
    --conf "spark.executor.resource.gpu.discoveryScript=$discovery"
    --conf "spark.executorEnv.LIBCUDF_CUFILE_POLICY=${LIBCUDF_CUFILE_POLICY:-OFF}")
fi
args=(--objective xgboost --backend "$backend" --study-name "${STUDY_NAME:-xgboost-standalone}"
  --trials "${TRIALS:-100}" --num-boost-round "${NUM_BOOST_ROUND:-1000}"
  --device "${DEVICE:-auto}" --progress log)
[[ -n "${DATA:-}" ]] && args+=(--filepath "$DATA")
[[ -n "${LABEL:-}" ]] && args+=(--label "$LABEL")
[[ -n "${TASKS:-}" ]] && args+=(--tasks "$TASKS")
[[ -n "${JOBS:-}" ]] && args+=(--jobs "$JOBS")
submit_optuna_spark "${submit[@]}" -- "${args[@]}" "$@"
