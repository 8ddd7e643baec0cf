#!/usr/bin/env bash
# Download, here, the wheels scripts/gpu-check.sh needs on a GPU machine that has no network
# and whose python3 (3.12, x86-64) has CuPy, pandas, pyarrow, NumPy, SciPy, click, joblib and
# cloudpickle but no XGBoost, optuna or SQLAlchemy: the CUDA 13 XGBoost build and optuna with
# its pure-Python dependencies, into the git-ignored .whl/ (under 64 MiB together, so the
# folder travels with the working tree). Pinned, so every check runs the same stack.
#
#   GPU_WHEELS_DIR   .whl in the repository
#   GPU_PYTHON       3.12 (the GPU machine's Python version)
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="${GPU_WHEELS_DIR:-.whl}"
version="${GPU_PYTHON:-3.12}"
limit=$((64 * 1024 * 1024))
rm -rf "$dir" && mkdir -p "$dir"
common=(--quiet --no-deps --only-binary=:all: --python-version "$version" -d "$dir")
# XGBoost with CUDA 13 (NCCL is loaded only for multi-GPU training, so it stays behind).
python3 -m pip download "${common[@]}" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  "xgboost-cu13==3.3.0"
# optuna and what it needs beyond the machine's own packages; pure Python, SQLAlchemy's too.
python3 -m pip download "${common[@]}" --implementation py --platform any \
  "optuna==5.1.0" "sqlalchemy==2.1.9" "alembic==1.20.1" "mako==1.4.3" "colorlog==6.12.0"
total="$(du -cb "$dir"/*.whl | tail -1 | cut -f1)"
ls -l "$dir"
echo "gpu-wheels: $(find "$dir" -type f -name '*.whl' | wc -l) wheels, $((total / 1024 / 1024)) MiB in $dir"
if ((total >= limit)); then
  echo "gpu-wheels: $dir holds $((total / 1024 / 1024)) MiB, more than the 64 MiB that can travel." >&2
  exit 1
fi
