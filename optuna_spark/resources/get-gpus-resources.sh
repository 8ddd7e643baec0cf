#!/usr/bin/env bash
# Spark's GPU discovery script (spark.worker.resource.gpu.discoveryScript or
# spark.executor.resource.gpu.discoveryScript): prints the GPUs nvidia-smi lists, as
#   {"name": "gpu", "addresses": ["0", "1"]}
# The addresses are nvidia-smi's device numbers; an executor started with CUDA_VISIBLE_DEVICES
# still gets the right GPU (optuna-spark maps the address through that list). Shipped in the
# package because pip-installed pyspark has no examples/src/main/scripts/getGpusResources.sh;
# `optuna-spark gpu-discovery-script` prints where it is.
set -euo pipefail
if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0; fi
if ! ids="$(nvidia-smi --query-gpu=index --format=csv,noheader 2>&1)"; then
  echo "get-gpus-resources: nvidia-smi failed: $ids" >&2
  exit 1
fi
addresses="$(printf '%s\n' "$ids" | tr -d ' \r' | grep -E '^[0-9]+$' | sed 's/.*/"&"/' | paste -sd, -)"
echo "{\"name\": \"gpu\", \"addresses\": [${addresses}]}"
