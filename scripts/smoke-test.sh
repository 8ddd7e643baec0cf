#!/usr/bin/env bash
# Smoke-test a deployment: run a tiny quadratic study through the cluster against the shared
# storage, check that exactly N trials landed in it, then delete the study again.
#
# Usage: scripts/smoke-test.sh [--master URL] [--storage URL] [--trials N] [--backend NAME]
#   --master    Spark master [the active session, else local[*]]
#   --storage   study storage [$OPTUNA_SPARK_STORAGE, else a SQLite file here]
#   --trials    4
#   --backend   rdd
# The database password comes from OPTUNA_SPARK_DB_PASSWORD_FILE or OPTUNA_SPARK_DB_PASSWORD, as
# for optuna-spark itself; it is never printed. PYTHON picks the interpreter whose installed
# optuna-spark is checked [./.venv/bin/python, else python3]: the installed wheel, never a
# source tree (an editable install is refused).
set -euo pipefail
usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-$([[ -x "$root/.venv/bin/python" ]] && echo "$root/.venv/bin/python" || echo python3)}"
trials=4 backend=rdd common=() run=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --master) run+=(--master "$2"); shift 2 ;;
    --storage) common+=(--storage "$2"); shift 2 ;;
    --trials) trials="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "smoke-test: unknown option $1; see --help." >&2; exit 2 ;;
  esac
done
# Where the package comes from, asked from an empty directory (no source tree on the path).
# A relative PYTHON must still name it from the empty directory below.
if [[ "$python" == */* ]]; then python="$(cd "$(dirname "$python")" && pwd)/$(basename "$python")"; fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
found="$(cd "$scratch" && "$python" -c 'import os, optuna_spark as p; print(p.__version__, os.path.dirname(p.__file__))' 2>/dev/null)" || {
  echo "smoke-test: optuna-spark is not installed for $python; install the wheel (make wheel, then pip install dist/optuna_spark-*.whl) or set PYTHON." >&2
  exit 1
}
read -r version where <<<"$found"
if [[ -f "$where/../pyproject.toml" ]]; then
  echo "smoke-test: $python runs optuna-spark from the source tree $(dirname "$where"), not an installed wheel; install the wheel (make wheel, then pip install dist/optuna_spark-*.whl) to check a deployment." >&2
  exit 1
fi
echo "checking optuna-spark $version installed in $where" >&2
# `python -c` would put the working directory (perhaps a source checkout) first on the path:
# it is taken off, so the package found above is what runs.
cli() {
  "$python" -c 'import sys; sys.path = [p for p in sys.path if p not in ("", ".")]; sys.argv[0] = "optuna-spark"; from optuna_spark.cli import main; main()' "$@"
}
study="smoke-$(date +%s)-$$"

cli run --objective quadratic --study-name "$study" --trials "$trials" --backend "$backend" --quiet \
  "${common[@]}" "${run[@]}" >/dev/null
summary="$(cli studies --format csv "${common[@]}" | grep "^$study,")"
complete="$(cut -d, -f3 <<<"$summary")"  # name,direction,complete,...
cli delete-study --study-name "$study" --yes "${common[@]}" >/dev/null
if [[ "$complete" == "$trials" ]]; then
  echo "smoke test passed: $trials of $trials trials completed through $backend"
else
  echo "smoke test FAILED: $complete of $trials trials completed (study line: $summary)" >&2
  exit 1
fi
