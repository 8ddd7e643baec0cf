#!/usr/bin/env bash
# Set up everything optuna-spark needs on this machine: a virtual environment (.venv by
# default), the package in editable mode with the requested extras, and a Java check when
# Spark is among them. Idempotent: a second run with nothing changed returns at once.
#
# Usage: scripts/setup-env.sh [EXTRAS]      e.g. scripts/setup-env.sh spark,xgboost,test
# Env:   VENV (default .venv), PYTHON (default python3)
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi

extras="${1:-spark,xgboost}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${VENV:-$root/.venv}"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: $python not found; install Python 3.10 or newer (or set PYTHON=/path/to/python3)." >&2
  exit 1
fi
if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)'; then
  echo "error: optuna-spark needs Python 3.10 or newer; $python is $("$python" -V 2>&1)." >&2
  exit 1
fi

if [[ ",$extras," == *",spark,"* ]]; then
  java_bin="java"
  [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]] && java_bin="$JAVA_HOME/bin/java"
  if ! command -v "$java_bin" >/dev/null 2>&1; then
    echo "error: Spark needs Java 17 or newer and no java was found; install it (for example" \
         "'apt-get install -y openjdk-17-jre-headless') or set JAVA_HOME." >&2
    exit 1
  fi
  java_major="$("$java_bin" -version 2>&1 | sed -n 's/.*version "\([0-9]*\)\.\{0,1\}\([0-9]*\).*/\1 \2/p' | head -n 1)"
  read -r major minor <<<"$java_major"
  [[ "${major:-0}" == "1" ]] && major="${minor:-0}"
  if (( ${major:-0} < 17 )); then
    echo "error: Spark needs Java 17 or newer but $java_bin is Java ${major:-unknown}; install" \
         "a newer JDK and point JAVA_HOME at it." >&2
    exit 1
  fi
fi

# The stamp holds the pyproject.toml it installed from and the extras installed. A venv that
# already has every extra asked for is left alone (make run after make test reinstalls
# nothing); one that lacks some gets them added to what it has, never swapped for them.
stamp="$venv/.optuna-spark-setup"
hash="$(sha256sum <"$root/pyproject.toml" | cut -c1-16)"
stamp_hash="" have=""
if [[ -x "$venv/bin/python" && -f "$stamp" ]]; then
  read -r stamp_hash have <"$stamp" || true
fi
# A comma list as a sorted set: "spark,xgboost,spark" -> "spark,xgboost".
as_set() { printf '%s' "$1" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -; }
all="$(as_set "$have,$extras")"
if [[ "$stamp_hash" == "$hash" && "$all" == "$(as_set "$have")" ]]; then
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  echo "Creating the virtual environment $venv" >&2
  "$python" -m venv "$venv"
fi
echo "Installing optuna-spark[$all] into $venv" >&2
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -e "${root}[${all}]"
echo "$hash $all" >"$stamp"
