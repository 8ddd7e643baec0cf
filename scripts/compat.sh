#!/usr/bin/env bash
# Run the Spark, MySQL and XGBoost tests on another library stack: one constraint file of
# constraints/, in a venv of its own (.compat/NAME), with the wheel of dist/ (make wheel).
#
# Usage: scripts/compat.sh NAME [PYTEST ARGS...]     e.g. scripts/compat.sh oldest
#
# The constraint file's header says how:
#   # python: 3.11            the Python it runs on (found on PATH or through pyenv)
#   # extras: spark,xgboost   the extras installed from the wheel
#   # runtime: databricks     the file lists what a Databricks runtime owns: those are installed
#                             first, then the wheel through databricks/init_optuna.sh (as on a
#                             worker node), which must change none of them
# Without "runtime", the wheel is installed under the file as pip constraints.
# Env: COMPAT_PYTHON overrides the interpreter; COMPAT_DIR the venvs' folder [.compat].
set -euo pipefail
if [[ "${1:-}" == "" || "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  [[ -n "${1:-}" ]] && exit 0 || exit 2
fi
name="$1"
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file="$root/constraints/$name.txt"
[[ -f "$file" ]] || { echo "compat: no constraint file constraints/$name.txt; see constraints/." >&2; exit 2; }
header() { sed -n "s/^# $1: *//p" "$file" | head -n 1; }
want_python="$(header python)"
extras="$(header extras)"
runtime="$(header runtime)"
say() { echo "compat[$name]: $*" >&2; }

find_python() {
  local version="$1" candidate
  if [[ -n "${COMPAT_PYTHON:-}" ]]; then echo "$COMPAT_PYTHON"; return; fi
  for candidate in "python$version" "$HOME/.pyenv/versions/$version"*/bin/"python$version"; do
    if "$candidate" -c 'import sys' >/dev/null 2>&1; then echo "$candidate"; return; fi
  done
  # A pyenv shim answers for a version that is installed but not selected.
  if command -v pyenv >/dev/null; then
    candidate="$(pyenv versions --bare 2>/dev/null | grep -E "^$version(\.|$)" | tail -n 1 || true)"
    if [[ -n "$candidate" ]]; then echo "$(pyenv root)/versions/$candidate/bin/python$version"; return; fi
  fi
  return 1
}
python="$(find_python "$want_python")" || {
  say "constraints/$name.txt runs on Python $want_python and none was found; install it" \
      "(for example 'pyenv install $want_python') or set COMPAT_PYTHON=/path/to/python$want_python."
  exit 1
}

shopt -s nullglob
wheels=("$root"/dist/optuna_spark-*-py3-none-any.whl)
[[ ${#wheels[@]} -eq 1 ]] || { say "expected one wheel in dist/, found ${#wheels[@]}; run 'make wheel'."; exit 1; }
wheel="${wheels[0]}"

venv="${COMPAT_DIR:-$root/.compat}/$name"
rm -rf "$venv"
say "Python $("$python" -c 'import platform; print(platform.python_version())') in $venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --upgrade pip

spec="$wheel${extras:+[$extras]}"
if [[ "$runtime" == "databricks" ]]; then
  say "installing the runtime's packages"
  "${pip[@]}" install --quiet -r "$file"
  "${pip[@]}" freeze --all | sort >"$venv/runtime-before.txt"
  say "installing $(basename "$wheel")${extras:+[$extras]} into it with databricks/init_optuna.sh"
  env -u OPTUNA_SPARK_PACKAGE OPTUNA_SPARK_WHEEL="$wheel" OPTUNA_SPARK_EXTRAS="$extras" \
    OPTUNA_SPARK_PIP="${pip[*]}" DB_IS_DRIVER=FALSE "$root/databricks/init_optuna.sh"
  "${pip[@]}" freeze --all | sort >"$venv/runtime-after.txt"
  # Every package the runtime had keeps its version: nothing upgraded, downgraded or removed.
  changed="$(comm -23 "$venv/runtime-before.txt" "$venv/runtime-after.txt")"
  if [[ -n "$changed" ]]; then
    say "installing optuna-spark changed packages the runtime owns:"
    while read -r line; do
      now="$(grep -i "^${line%%==*}==" "$venv/runtime-after.txt" || echo removed)"
      echo "  $line -> $now" >&2
    done <<<"$changed"
    exit 1
  fi
  say "the runtime's $(wc -l <"$venv/runtime-before.txt") packages are unchanged"
else
  say "installing $(basename "$wheel")${extras:+[$extras]} under constraints/$name.txt"
  "${pip[@]}" install --quiet -c "$file" "$spec"
fi
# The test runner only, under the same constraints (it must not move the stack either).
"${pip[@]}" install --quiet -c "$file" pytest pytest-timeout pymysql
"${pip[@]}" freeze | grep -iE '^(optuna|pyspark|pandas|numpy|pyarrow|sqlalchemy|joblib|joblibspark|cloudpickle|click|xgboost|xgboost-cpu|mysqlclient|scikit-learn|mlflow-skinny|cmaes)==' \
  | tr '\n' ' ' | sed "s/^/compat[$name]: /;s/ $/\n/" >&2

# The tests that meet Spark, MariaDB, XGBoost and Optuna's internals; the rest of the suite is
# pure logic that the stack does not change.
tests=(
  tests/test_internals.py
  tests/test_spark.py
  tests/test_xgboost.py
  tests/test_run_local.py
  tests/test_auto_sampler.py
  tests/test_lost_worker.py
  tests/test_prefetch.py
  tests/test_progress.py
  tests/test_mlflow.py
  tests/test_mlflow_rules.py
  tests/storage/test_mysql.py
  tests/storage/test_fast_reader.py
  tests/storage/test_lean_cache.py
)
cd "$root"
export PYSPARK_PYTHON="$venv/bin/python"
"$venv/bin/python" -m pytest -p no:cacheprovider -q "${tests[@]}" "$@"
# And what a deployment runs first: the smoke test, on the installed wheel, through local Spark.
PYTHON="$venv/bin/python" scripts/smoke-test.sh --master 'local[2]' --trials 4 --storage "sqlite:///$venv/smoke.db"
