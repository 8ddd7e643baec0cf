#!/usr/bin/env bash
# The prepared check of the GPU path, for one GPU machine with no network where python3 has
# CuPy, pandas and pyarrow but no XGBoost, optuna or pyspark. Carry .whl/ (made here first by
# scripts/gpu-wheels.sh). It installs the wheels into a scratch folder, prints the GPU and the
# stack, runs the GPU tests (tests/test_gpu.py), then bench/gpu_check.py: make-data at
# 200,000 and 2,000,000 rows x 156, 16 XGBoost trials each on the GPU with 1, 2 and 4 workers
# sharing it and on the CPU with 16 workers. Results land in $OUT (or /tmp/gpu-check):
# results.json, table.md (for docs/gpu.md), pytest.txt, logs/. About 9 minutes at most.
#
# Arguments go to bench/gpu_check.py (e.g. --budget-seconds 300, --rows 200000).
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-/tmp/gpu-check}"
site="${GPU_CHECK_SITE:-/tmp/gpu-check-site}"
mkdir -p "$out"
compgen -G ".whl/*.whl" >/dev/null ||
  { echo "gpu-check: no wheels in .whl/; run scripts/gpu-wheels.sh here first and carry .whl." >&2; exit 2; }
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
export PYTHONPATH="$site:$PWD" PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_mode --format=csv,noheader || echo "nvidia-smi failed"
  python3 - <<'PY'
import platform, cupy, xgboost, optuna, pandas, pyarrow
from optuna_spark import __version__, device
print(f"python {platform.python_version()}, optuna-spark {__version__}, xgboost {xgboost.__version__} "
      f"(CUDA {xgboost.build_info().get('USE_CUDA')}), cupy {cupy.__version__}, optuna {optuna.__version__}, "
      f"pandas {pandas.__version__}, pyarrow {pyarrow.__version__}")
facts = device.probe()
print(f"probe: {facts}; auto -> {device.choose_device('auto', facts)}")
PY
} 2>&1 | tee "$out/stack.txt" || true
# The GPU tests first: short, and they say at once whether the GPU path works at all.
timeout 150 python3 -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py 2>&1 | tail -25 | tee "$out/pytest.txt" || true
python3 bench/gpu_check.py --out "$out" --data-dir /tmp/gpu-check-data --python python3 "$@"
