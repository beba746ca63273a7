#!/usr/bin/env bash
# The key screens of the real window under Xvfb with the openbox window manager, into docs/screenshots/
# (the same tour as the screenshot test tier, tests/app/test_screenshots.py, which also checks them by widget state).
# The replies come from the fake assistant of tests/app (no models needed); everything else is the real app.
# Needs: Xvfb and openbox (Debian: apt-get install xvfb openbox, plus Qt's xcb libraries: see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-docs/screenshots}"
mkdir -p "$OUT"
for tool in Xvfb openbox; do command -v "$tool" >/dev/null || { echo "$tool is not installed" >&2; exit 2; }; done
PY="${PYTHON:-python}"
[ -x .venv/bin/python ] && PY=.venv/bin/python
TMP="$(mktemp -d)"
N=$((140 + RANDOM % 50))
Xvfb ":$N" -screen 0 1400x900x24 -nolisten tcp >/dev/null 2>&1 &
XVFB=$!
trap 'kill "$WM" "$XVFB" 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -e "/tmp/.X11-unix/X$N" ] && break; sleep 0.1; done
DISPLAY=":$N" openbox >/dev/null 2>&1 &
WM=$!
DISPLAY=":$N" QT_QPA_PLATFORM=xcb XDG_DATA_HOME="$TMP/data" XDG_CONFIG_HOME="$TMP/config" PYTHONPATH="$PWD" \
  "$PY" tests/app/screenshot_tour.py "$OUT" "$TMP/report.json"
cat "$TMP/report.json"
ls -la "$OUT"
