#!/usr/bin/env bash
# Create .venv and install torch + the project (once; again whenever pyproject.toml or TORCH_SPEC changes).
# TORCH_SPEC overrides the torch requirement, e.g. on a CUDA workstation:
#   TORCH_SPEC="torch --index-url https://download.pytorch.org/whl/cu124" ./scripts/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
. .venv/bin/activate
stamp=".venv/.anygpt-setup-$(cat pyproject.toml <(echo "$TORCH_SPEC") | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then exit 0; fi
python -m pip install -q --upgrade pip
# torch first, so the project's torch range is already satisfied and pip does not pull a multi-GB CUDA build.
python -m pip install -q $TORCH_SPEC
python -m pip install -q -e ".[test]"
rm -f .venv/.anygpt-setup-*
touch "$stamp"
