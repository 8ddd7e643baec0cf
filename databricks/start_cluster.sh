#!/usr/bin/env bash
# Create a Databricks GPU cluster with the optuna-spark init script, through the Databricks CLI
# (`databricks`, authenticated: `databricks auth login`). Uploads the wheel of dist/ (make
# wheel) to a Unity Catalog volume and the init scripts to the workspace first. The volume
# must exist (databricks volumes create main default optuna_spark MANAGED), and the database
# password must already be a secret (never passed here):
#   databricks secrets create-scope optuna
#   databricks secrets put-secret optuna db-password
#
# Environment (defaults):
#   CLUSTER_NAME     optuna-spark-gpu
#   SPARK_VERSION    15.4.x-gpu-ml-scala2.12
#   NODE_TYPE        g5.xlarge
#   NUM_WORKERS      2
#   WORKSPACE_DIR    /Shared/optuna-spark (where the init scripts are uploaded)
#   VOLUME_DIR       /Volumes/main/default/optuna_spark (where the wheel is uploaded)
#   SECRET           optuna/db-password (scope/key of the database password)
#   DATABRICKS_CLI   databricks
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
cli="${DATABRICKS_CLI:-databricks}"
command -v "$cli" >/dev/null || { echo "start_cluster: the Databricks CLI ($cli) is not installed; see https://docs.databricks.com/dev-tools/cli/" >&2; exit 1; }
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workspace_dir="${WORKSPACE_DIR:-/Shared/optuna-spark}"
secret="${SECRET:-optuna/db-password}"
volume_dir="${VOLUME_DIR:-/Volumes/main/default/optuna_spark}"
shopt -s nullglob
wheels=("$here"/../dist/optuna_spark-*-py3-none-any.whl)
[[ ${#wheels[@]} -eq 1 ]] || { echo "start_cluster: expected one wheel in dist/, found ${#wheels[@]}; run 'make wheel' first." >&2; exit 1; }
wheel="$volume_dir/$(basename "${wheels[0]}")"

"$cli" fs cp "${wheels[0]}" "dbfs:$wheel" --overwrite

"$cli" workspace mkdirs "$workspace_dir"
for script in init_optuna.sh init_optuna_xgboost.sh; do
  "$cli" workspace import "$workspace_dir/$script" --file "$here/$script" --format AUTO --overwrite
done

spec="$(mktemp)"
trap 'rm -f "$spec"' EXIT
cat >"$spec" <<JSON
{
  "cluster_name": "${CLUSTER_NAME:-optuna-spark-gpu}",
  "spark_version": "${SPARK_VERSION:-15.4.x-gpu-ml-scala2.12}",
  "node_type_id": "${NODE_TYPE:-g5.xlarge}",
  "num_workers": ${NUM_WORKERS:-2},
  "spark_conf": {"spark.task.resource.gpu.amount": "1"},
  "spark_env_vars": {
    "OPTUNA_SPARK_DB_PASSWORD": "{{secrets/$secret}}",
    "LIBCUDF_CUFILE_POLICY": "OFF",
    "OPTUNA_SPARK_WHEEL": "$wheel"
  },
  "init_scripts": [{"workspace": {"destination": "$workspace_dir/init_optuna_xgboost.sh"}}]
}
JSON
"$cli" clusters create --json @"$spec"
