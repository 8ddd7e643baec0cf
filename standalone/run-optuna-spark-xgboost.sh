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
#   BACKEND                    joblibspark
#   JOBS                       8 (joblibspark: Spark jobs at a time)
#   NUM_BOOST_ROUND            1000
#   DEVICE                     auto (cuda where the executors have a GPU, CUDA XGBoost and cuDF)
#   EXECUTOR_GPUS              0; with N > 0: spark.executor.resource.gpu.amount=N and
#   TASK_GPUS                  1 GPU per task, found by
#   SPARK_GPU_DISCOVERY_SCRIPT $SPARK_HOME/examples/src/main/scripts/getGpusResources.sh;
#                              executors also get LIBCUDF_CUFILE_POLICY (default OFF) for cuDF
# Further arguments go to `optuna-spark run`.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
# shellcheck source=standalone/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

submit=(--name optuna-spark-xgboost)
gpus="${EXECUTOR_GPUS:-0}"
if [[ "$gpus" != "0" ]]; then
  discovery="${SPARK_GPU_DISCOVERY_SCRIPT:-$SPARK_HOME/examples/src/main/scripts/getGpusResources.sh}"
  submit+=(--conf "spark.executor.resource.gpu.amount=$gpus"
    --conf "spark.task.resource.gpu.amount=${TASK_GPUS:-1}"
    --conf "spark.executor.resource.gpu.discoveryScript=$discovery"
    --conf "spark.executorEnv.LIBCUDF_CUFILE_POLICY=${LIBCUDF_CUFILE_POLICY:-OFF}")
fi
args=(--objective xgboost --backend "${BACKEND:-joblibspark}" --study-name "${STUDY_NAME:-xgboost-standalone}"
  --trials "${TRIALS:-100}" --jobs "${JOBS:-8}" --num-boost-round "${NUM_BOOST_ROUND:-1000}"
  --device "${DEVICE:-auto}" --progress log)
[[ -n "${DATA:-}" ]] && args+=(--filepath "$DATA")
[[ -n "${LABEL:-}" ]] && args+=(--label "$LABEL")
[[ -n "${TASKS:-}" ]] && args+=(--tasks "$TASKS")
submit_optuna_spark "${submit[@]}" -- "${args[@]}" "$@"
