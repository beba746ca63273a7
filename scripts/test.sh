#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, layering contract, then every tier of pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. .venv/bin/activate
lint-imports
ruff check --select F,E9 --output-format concise anygpt_desktop tests packaging  # undefined names, unused imports
# pytest exits 5 when it collects nothing: that is a failure here, as is any other non-zero code.
python -m pytest -q -p no:cacheprovider "$@"
