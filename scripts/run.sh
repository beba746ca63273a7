#!/usr/bin/env bash
# Set up (first time) and start the app. Extra arguments go to anygpt-desktop (e.g. --demo).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/anygpt-desktop "$@"
