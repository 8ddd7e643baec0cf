#!/usr/bin/env bash
# Set up the MariaDB (or MySQL) server that holds optuna-spark studies. Idempotent.
#
# Usage: scripts/setup-mysql.sh [install|start|stop|status|url] [options]
#   install   install the server and client build libraries from the OS packages (as root)
#   start     install if needed, start the server, create the database and user (default)
#   stop      stop a server this script started
#   status    say whether the server answers
#   url       print the storage URL (password masked)
#
# Options (each also an environment variable):
#   --bind ADDR           address to listen on        OPTUNA_SPARK_DB_BIND      127.0.0.1
#   --port PORT           TCP port                    OPTUNA_SPARK_DB_PORT      3306
#   --database NAME       database for the studies    OPTUNA_SPARK_DB_NAME      optuna
#   --user NAME           user the workers log in as  OPTUNA_SPARK_DB_USER      optuna_user
#   --client-host HOST    host part of that user      OPTUNA_SPARK_DB_CLIENT_HOST
#                         (default: localhost and 127.0.0.1 when bound to loopback, else %)
#   --datadir DIR         run a private server from DIR, without systemd
#                                                     OPTUNA_SPARK_DB_DATADIR
#                         (default: systemd's mariadb service when systemd runs, else
#                          /var/lib/optuna-spark/mysql)
#   --password-file FILE  where a generated password is kept (mode 600)
#                                                     OPTUNA_SPARK_DB_PASSWORD_FILE
#                                                     ~/.config/optuna-spark/db-password
# The password is OPTUNA_SPARK_DB_PASSWORD when set, else the one in the password file, else a
# new random one saved there. It is never printed, and never put on a command line.
# The user's privileges cover the one database only (no *.*, no GRANT OPTION).
set -euo pipefail

action="start"
if [[ $# -gt 0 && "$1" != -* ]]; then action="$1"; shift; fi

bind="${OPTUNA_SPARK_DB_BIND:-127.0.0.1}"
port="${OPTUNA_SPARK_DB_PORT:-3306}"
database="${OPTUNA_SPARK_DB_NAME:-optuna}"
db_user="${OPTUNA_SPARK_DB_USER:-optuna_user}"
client_host="${OPTUNA_SPARK_DB_CLIENT_HOST:-}"
datadir="${OPTUNA_SPARK_DB_DATADIR:-}"
password_file="${OPTUNA_SPARK_DB_PASSWORD_FILE:-$HOME/.config/optuna-spark/db-password}"

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "setup-mysql: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --bind) bind="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --database) database="$2"; shift 2 ;;
    --user) db_user="$2"; shift 2 ;;
    --client-host) client_host="$2"; shift 2 ;;
    --datadir) datadir="$2"; shift 2 ;;
    --password-file) password_file="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1; see --help." ;;
  esac
done

[[ "$database" =~ ^[A-Za-z0-9_]+$ ]] || die "--database may hold letters, digits and _ only."
[[ "$db_user" =~ ^[A-Za-z0-9_]+$ ]] || die "--user may hold letters, digits and _ only."
[[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number."

server_bin() { command -v mariadbd || command -v mysqld || { [[ -x /usr/sbin/mariadbd ]] && echo /usr/sbin/mariadbd; } || { [[ -x /usr/sbin/mysqld ]] && echo /usr/sbin/mysqld; } || true; }
client_bin() { command -v mariadb || command -v mysql || true; }
admin_bin() { command -v mariadb-admin || command -v mysqladmin || true; }
have_systemd() { [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; }

do_install() {
  if [[ -n "$(server_bin)" && -n "$(client_bin)" ]] && { pkg-config --exists mysqlclient 2>/dev/null || pkg-config --exists mariadb 2>/dev/null; }; then
    return 0
  fi
  if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "no MariaDB server found; install one (Debian/Ubuntu: sudo apt-get install mariadb-server default-libmysqlclient-dev pkg-config) and run this again."
  fi
  echo "Installing MariaDB server and client libraries from the OS packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq mariadb-server mariadb-client default-libmysqlclient-dev pkg-config build-essential >/dev/null
}

# Where the private server lives (no systemd, or --datadir).
private_mode() { [[ -n "$datadir" ]] || ! have_systemd; }
resolve_datadir() { [[ -n "$datadir" ]] || datadir="/var/lib/optuna-spark/mysql"; }
sock() { echo "$datadir/mysqld.sock"; }
pidfile() { echo "$datadir/mysqld.pid"; }

root_sql() {
  # SQL comes on stdin so the password never shows up in a process list.
  local client; client="$(client_bin)"
  if private_mode; then "$client" --protocol=socket --socket="$(sock)" -uroot; else "$client" -uroot; fi
}

ping_server() {
  local admin; admin="$(admin_bin)"
  if private_mode; then "$admin" --protocol=socket --socket="$(sock)" -uroot ping >/dev/null 2>&1
  else "$admin" -uroot ping >/dev/null 2>&1; fi
}

start_private() {
  resolve_datadir
  mkdir -p "$datadir"
  if ping_server; then return 0; fi
  if [[ ! -d "$datadir/mysql" ]]; then
    local install_db; install_db="$(command -v mariadb-install-db || command -v mysql_install_db || true)"
    [[ -n "$install_db" ]] || die "mariadb-install-db not found; install mariadb-server."
    "$install_db" --user="$(id -un)" --datadir="$datadir" --auth-root-authentication-method=socket \
      --skip-test-db >"$datadir/install.log" 2>&1 || die "initialising $datadir failed; see $datadir/install.log."
  fi
  "$(server_bin)" --user="$(id -un)" --datadir="$datadir" --socket="$(sock)" --port="$port" \
    --bind-address="$bind" --pid-file="$(pidfile)" --log-error="$datadir/error.log" \
    --skip-name-resolve >/dev/null 2>&1 &
  wait_for_server "$datadir/error.log"
}

wait_for_server() {  # where to look when it does not come up
  for _ in $(seq 1 300); do
    if ping_server; then return 0; fi
    sleep 0.1
  done
  die "the server did not answer within 30 s; see $1."
}

start_systemd() {
  local conf_dir=/etc/mysql/mariadb.conf.d
  [[ -d "$conf_dir" ]] || conf_dir=/etc/mysql/conf.d
  if [[ -d "$conf_dir" ]]; then
    printf '[mysqld]\nbind-address = %s\nport = %s\nskip-name-resolve\n' "$bind" "$port" >"$conf_dir/60-optuna-spark.cnf"
  fi
  systemctl restart mariadb 2>/dev/null || systemctl restart mysql
  wait_for_server "journalctl -u mariadb"
}

read_password() {
  if [[ -n "${OPTUNA_SPARK_DB_PASSWORD:-}" ]]; then
    password="$OPTUNA_SPARK_DB_PASSWORD"
  elif [[ -s "$password_file" ]]; then
    password="$(cat "$password_file")"
  else
    password="$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)"
    mkdir -p "$(dirname "$password_file")"
    (umask 077 && printf '%s' "$password" >"$password_file")
    echo "Generated a password and saved it to $password_file (mode 600)" >&2
  fi
}

sql_quote() { local s="${1//\\/\\\\}"; printf "%s" "${s//\'/\'\'}"; }

create_database_and_user() {
  local hosts=()
  if [[ -n "$client_host" ]]; then hosts=("$client_host")
  elif [[ "$bind" == 127.* || "$bind" == "localhost" || "$bind" == "::1" ]]; then hosts=("localhost" "127.0.0.1")
  else hosts=("%"); fi
  local quoted; quoted="$(sql_quote "$password")"
  {
    echo "CREATE DATABASE IF NOT EXISTS \`$database\` CHARACTER SET utf8mb4;"
    for host in "${hosts[@]}"; do
      echo "CREATE USER IF NOT EXISTS '$db_user'@'$host' IDENTIFIED BY '$quoted';"
      echo "ALTER USER '$db_user'@'$host' IDENTIFIED BY '$quoted';"
      echo "GRANT ALL PRIVILEGES ON \`$database\`.* TO '$db_user'@'$host';"
    done
    echo "FLUSH PRIVILEGES;"
  } | root_sql || die "creating the database and user failed."
}

masked_url() { echo "mysql://$db_user:***@$bind:$port/$database"; }

do_start() {
  do_install
  if private_mode; then start_private; else start_systemd; fi
  read_password
  create_database_and_user
  echo "MariaDB is up on $bind:$port; database '$database', user '$db_user'."
  echo "storage URL: $(masked_url)"
  echo "use it with: export OPTUNA_SPARK_STORAGE=mysql://$db_user@$bind:$port/$database"
  if [[ -n "${OPTUNA_SPARK_DB_PASSWORD:-}" ]]; then
    echo "             optuna-spark run   (the password comes from OPTUNA_SPARK_DB_PASSWORD)"
  else
    echo "             optuna-spark run --password-file $password_file   (or set OPTUNA_SPARK_DB_PASSWORD)"
  fi
}

do_stop() {
  if private_mode; then
    resolve_datadir
    if [[ -s "$(pidfile)" ]]; then
      local pid; pid="$(cat "$(pidfile)")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      echo "stopped the server of $datadir"
    else
      echo "no server is running from $datadir"
    fi
  else
    systemctl stop mariadb 2>/dev/null || systemctl stop mysql
    echo "stopped the mariadb service"
  fi
}

case "$action" in
  install) do_install ;;
  start) do_start ;;
  stop) do_stop ;;
  status)
    if private_mode; then resolve_datadir; fi
    if [[ -n "$(admin_bin)" ]] && ping_server; then echo "up: $(masked_url)"; else echo "down"; exit 1; fi ;;
  url) masked_url ;;
  *) die "unknown action $action; use install, start, stop, status or url." ;;
esac
