#!/usr/bin/env bash
# Databricks init script for GPU clusters: init_optuna.sh with the databricks-gpu extra (CuPy,
# which moves each worker's data to its GPU; the GPU ML runtime's own CUDA XGBoost is used, and
# its pandas is left alone) and the settings cuDF wants on every node, should you add cuDF.
# Same environment as init_optuna.sh (OPTUNA_SPARK_WHEEL included); upload both next to each
# other.
#
#   LIBCUDF_CUFILE_POLICY   OFF (GPUDirect Storage is rarely set up on cloud nodes)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
export OPTUNA_SPARK_EXTRAS="${OPTUNA_SPARK_EXTRAS-databricks-gpu}"
policy="${LIBCUDF_CUFILE_POLICY:-OFF}"
if [[ -f /databricks/spark/conf/spark-env.sh ]]; then
  echo "export LIBCUDF_CUFILE_POLICY=$policy" >>/databricks/spark/conf/spark-env.sh
fi
exec bash "$(dirname "${BASH_SOURCE[0]}")/init_optuna.sh"
