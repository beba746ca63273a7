#!/usr/bin/env bash
# Create .venv and install torch + the project. TORCH_SPEC overrides the torch requirement
# (e.g. TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124" on a CUDA workstation).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first, so the project's torch range is already satisfied and pip does not pull a multi-GB CUDA build.
python -m pip install -q ${TORCH_SPEC:-torch==2.13.0}
python -m pip install -q -e ".[test]"
