#!/usr/bin/env bash
# Databricks cluster init script for optuna-spark. Every node installs the optuna-spark wheel
# you uploaded (optuna-spark is on no package index; see databricks/README.md) with the
# `databricks` extra, which leaves what the runtime owns (pyspark, pandas, numpy, pyarrow,
# XGBoost) as it is, and the MySQL client headers its MySQL driver builds against. The driver
# also installs and starts MariaDB bound to the driver's IP, creates the database and a user
# whose rights cover that database only, and records the storage URL (without password) for
# the job in OPTUNA_SPARK_STORAGE.
#
# Databricks sets DB_IS_DRIVER and DB_DRIVER_IP. Put the password in a secret and expose it to
# the cluster as an environment variable (spark_env_vars), never in this file:
#   "spark_env_vars": {"OPTUNA_SPARK_DB_PASSWORD": "{{secrets/optuna/db-password}}"}
#
# Environment (defaults):
#   OPTUNA_SPARK_WHEEL           the uploaded wheel, e.g. /Volumes/main/default/optuna_spark/
#                                optuna_spark-0.1.0-py3-none-any.whl (required, unless
#                                OPTUNA_SPARK_PACKAGE says what to install)
#   OPTUNA_SPARK_EXTRAS          the wheel's extras [databricks]
#   OPTUNA_SPARK_PACKAGE         what pip installs instead of the wheel; empty: install nothing
#   OPTUNA_SPARK_PIP             /databricks/python/bin/pip, else python3 -m pip
#   OPTUNA_SPARK_DB_PASSWORD     required on the driver (from the secret)
#   OPTUNA_SPARK_DB_NAME         optuna
#   OPTUNA_SPARK_DB_USER         optuna_user
#   OPTUNA_SPARK_DB_PORT         3306
#   OPTUNA_SPARK_DB_CLIENT_HOST  which hosts may log in as that user [% on a cluster]
#   OPTUNA_SPARK_DB_DATADIR      the server's data directory [/local_disk0/optuna-mysql]
#   OPTUNA_SPARK_ENV_FILE        where the storage URL is written [/etc/optuna-spark/storage.env;
#                                on Databricks also appended to the driver's spark-env.sh]
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi

log() { echo "init_optuna: $*" >&2; }

if [[ -n "${OPTUNA_SPARK_PACKAGE+set}" ]]; then
  package="$OPTUNA_SPARK_PACKAGE"
elif [[ -n "${OPTUNA_SPARK_WHEEL:-}" ]]; then
  if [[ ! -f "$OPTUNA_SPARK_WHEEL" ]]; then
    log "OPTUNA_SPARK_WHEEL is $OPTUNA_SPARK_WHEEL, which this node cannot read; upload the wheel there (databricks/README.md) or correct the path."
    exit 1
  fi
  extras="${OPTUNA_SPARK_EXTRAS-databricks}"
  package="${OPTUNA_SPARK_WHEEL}${extras:+[$extras]}"
else
  log "OPTUNA_SPARK_WHEEL is not set; build the wheel (make wheel), upload it to a volume and set OPTUNA_SPARK_WHEEL to its path in the cluster's spark_env_vars (databricks/README.md)."
  exit 1
fi
if [[ -n "$package" ]]; then
  if [[ -n "${OPTUNA_SPARK_PIP:-}" ]]; then read -r -a pip <<<"$OPTUNA_SPARK_PIP"
  elif [[ -x /databricks/python/bin/pip ]]; then pip=(/databricks/python/bin/pip)
  else pip=(python3 -m pip); fi
  if ! command -v mariadb_config >/dev/null && ! command -v mysql_config >/dev/null; then
    # The MySQL driver (mysqlclient) compiles against the client library on every node that
    # installs it: workers open the study storage too.
    log "installing the MySQL client headers"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq default-libmysqlclient-dev pkg-config build-essential >/dev/null
  fi
  log "installing $package"
  "${pip[@]}" install --quiet "$package"
fi

if [[ "${DB_IS_DRIVER:-}" != "TRUE" ]]; then
  log "worker node: optuna-spark installed"
  exit 0
fi

[[ -n "${OPTUNA_SPARK_DB_PASSWORD:-}" ]] || {
  log "OPTUNA_SPARK_DB_PASSWORD is not set; expose a Databricks secret as that environment variable (spark_env_vars)."
  exit 1
}
driver_ip="${DB_DRIVER_IP:?DB_DRIVER_IP is not set (Databricks sets it on the driver)}"
python="${OPTUNA_SPARK_PYTHON:-$( [[ -x /databricks/python/bin/python ]] && echo /databricks/python/bin/python || echo python3)}"
setup="$("$python" -c 'import importlib.util, os; print(os.path.join(importlib.util.find_spec("optuna_spark").submodule_search_locations[0], "resources", "setup-mysql.sh"))')"
database="${OPTUNA_SPARK_DB_NAME:-optuna}"
port="${OPTUNA_SPARK_DB_PORT:-3306}"
args=(start --bind "$driver_ip" --port "$port" --database "$database"
  --user "${OPTUNA_SPARK_DB_USER:-optuna_user}"
  --datadir "${OPTUNA_SPARK_DB_DATADIR:-/local_disk0/optuna-mysql}")
if [[ -n "${OPTUNA_SPARK_DB_CLIENT_HOST:-}" ]]; then args+=(--client-host "$OPTUNA_SPARK_DB_CLIENT_HOST"); fi
bash "$setup" install
bash "$setup" "${args[@]}"

storage="mysql://${OPTUNA_SPARK_DB_USER:-optuna_user}@$driver_ip:$port/$database"
env_file="${OPTUNA_SPARK_ENV_FILE:-/etc/optuna-spark/storage.env}"
mkdir -p "$(dirname "$env_file")"
echo "OPTUNA_SPARK_STORAGE=$storage" >"$env_file"
if [[ -f /databricks/spark/conf/spark-env.sh ]]; then
  echo "export OPTUNA_SPARK_STORAGE=$storage" >>/databricks/spark/conf/spark-env.sh
fi
log "driver ready: study storage $storage (password from OPTUNA_SPARK_DB_PASSWORD)"
