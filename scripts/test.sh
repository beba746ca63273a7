#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, layering contract, then every tier of pytest.
# With no arguments (CI, a full local run) it then checks the thread-count-sensitive paths again: verify-reference
# at 1 and at 4 threads, and the speech/verify tests at 1 thread (a few minutes; the suite is not run twice).
# The last line printed says what was skipped (CI=true turns a missing prerequisite into a failure instead).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
. .venv/bin/activate
lint-imports
ruff check --select F,E9 --output-format concise anygpt_desktop tests packaging  # undefined names, unused imports
skip_summary="$(mktemp)"
trap 'rm -f "$skip_summary"' EXIT
status=0
# pytest exits 5 when it collects nothing: that is a failure here, as is any other non-zero code.
ANYGPT_SKIP_SUMMARY="$skip_summary" python -m pytest -q -p no:cacheprovider "$@" || status=$?
if [ "$#" -eq 0 ]; then
  kit="${ANYGPT_REFERENCE_DIR:-../shared/reference}"
  if [ -d "$kit/golden" ]; then
    for threads in 1 4; do
      echo "== verify-reference $kit with $threads thread(s)"
      OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads python -m anygpt_desktop verify-reference "$kit" 2>/dev/null \
        | grep -v '^PASS ' || status=1  # FAIL lines and the summary; pipefail keeps verify's exit status
    done
  elif [ "${CI:-}" = "true" ]; then
    echo "error: reference kit not found at $kit (CI=true: verify-reference must run)" >&2
    status=1
  else
    echo "skipped: verify-reference at 1 and 4 threads (no reference kit at $kit)" >> "$skip_summary"
  fi
  echo "== thread-sensitive tests at 1 thread"
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python -m pytest -q -p no:cacheprovider \
    tests/modalities/speech tests/verify tests/protocol/test_text_tokenizer.py || status=1
fi
cat "$skip_summary"
exit "$status"
