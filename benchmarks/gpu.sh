#!/usr/bin/env bash
# One command for a GPU machine: every GPU benchmark of lesion-nas as a ratio measured in the same
# run, the device named, written to benchmarks/RESULTS-gpu.md (benchmarks/gpu_suite.py says what
# each measures and at which sizes).
#
#   bash benchmarks/gpu.sh                       # the full run on the GPU (tens of minutes)
#   bash benchmarks/gpu.sh --smoke --device cpu  # the same code paths at toy sizes, < 2 min on CPU
#   bash benchmarks/gpu.sh --only packing,cudnn  # a subset (throughput packing cudnn search evaluation)
#
# It installs nothing from the network. A machine with torch but without optuna, thop, plotly...
# takes wheels carried in .whl/ (the device tool's README says how to download them): they are
# installed with --no-index into a private folder on PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c "import optuna, thop" >/dev/null 2>&1; then
    if compgen -G ".whl/*.whl" >/dev/null; then
        site="${TMPDIR:-/tmp}/lesion-nas-site"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target "$site" .whl/*.whl
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    else
        echo "error: optuna and thop are not importable and there is no .whl/ folder of wheels" \
             "to install them from (gpu.sh installs nothing from the network)" >&2
        exit 2
    fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" benchmarks/gpu_suite.py "$@"
