#!/usr/bin/env bash
# Create .venv and install torch + the project (once; again whenever pyproject.toml or the torch choice changes).
#
# Which torch build (said on stderr when it installs):
#   an NVIDIA driver is present (nvidia-smi works, or /proc/driver/nvidia/version exists)
#       driver >= 580     the CUDA 13 build: PyPI's torch==2.13.0 on Linux (it pulls the nvidia-* runtime wheels, ~3 GB)
#       older driver      the CUDA 12 build from PyTorch's index ($TORCH_CUDA12_INDEX, default cu126: driver >= 525)
#   no NVIDIA driver      the CPU build: a local CPU wheel where pip's configuration finds one (offline, as on the
#                         project's machines), else PyTorch's CPU index on Linux (PyPI's Linux wheel is the CUDA one),
#                         else PyPI (macOS and Windows wheels are CPU builds)
# Overrides:
#   TORCH_BUILD=cpu|cuda|cuda12   choose instead of detecting
#   TORCH_SPEC="..."              the exact pip arguments for torch, e.g.
#                                 TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
# scripts/setup.sh --plan   says what it would install and exits (creates .venv if missing, installs nothing)
set -euo pipefail
PLAN=0
[ "${1:-}" = --plan ] && PLAN=1
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_VERSION=2.13.0
CUDA13_MIN_DRIVER=580  # CUDA 13.0 needs an R580 driver or newer (580.65.06 on Linux)
CUDA12_INDEX=${TORCH_CUDA12_INDEX:-https://download.pytorch.org/whl/cu126}
CPU_INDEX=https://download.pytorch.org/whl/cpu
say() { printf 'setup: %s\n' "$*" >&2; }

nvidia_driver() {  # the NVIDIA driver's version (e.g. 580.65.06), or nothing
  local v=""
  if command -v nvidia-smi >/dev/null 2>&1; then
    v=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' ' || true)
  fi
  if [ -z "$v" ] && [ -r /proc/driver/nvidia/version ]; then
    v=$(sed -n 's/.*Kernel Module[^0-9]*\([0-9][0-9.]*\).*/\1/p' /proc/driver/nvidia/version | head -n1)
  fi
  printf '%s' "$v"
}

DRIVER=$(nvidia_driver)
BUILD=${TORCH_BUILD:-}
if [ -z "$BUILD" ]; then
  if [ -z "$DRIVER" ]; then BUILD=cpu
  elif [ "${DRIVER%%.*}" -ge "$CUDA13_MIN_DRIVER" ] 2>/dev/null; then BUILD=cuda
  else BUILD=cuda12
  fi
fi
case "$BUILD" in cpu|cuda|cuda12) ;; *) say "TORCH_BUILD must be cpu, cuda or cuda12 (got '$BUILD')"; exit 2;; esac
WHY="no NVIDIA driver found"
[ -n "$DRIVER" ] && WHY="NVIDIA driver $DRIVER"
[ -n "${TORCH_BUILD:-}" ] && WHY="TORCH_BUILD=$TORCH_BUILD"

if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
. .venv/bin/activate
stamp=".venv/.anygpt-setup-$(cat pyproject.toml <(echo "$BUILD ${TORCH_SPEC:-}") | sha256sum | cut -c1-16)"
if [ -f "$stamp" ] && [ "$PLAN" = 0 ]; then exit 0; fi
[ "$PLAN" = 0 ] && python -m pip install -q --upgrade pip

resolves_to() {  # the torch version pip would pick with these arguments (e.g. 2.13.0+cpu), without installing it
  python -m pip install --dry-run --ignore-installed --no-deps --quiet --report - "$@" 2>/dev/null \
    | python -c 'import json, sys; print(json.load(sys.stdin)["install"][0]["metadata"]["version"])' 2>/dev/null || true
}

if [ -n "${TORCH_SPEC:-}" ]; then
  SPEC=$TORCH_SPEC
  say "torch: TORCH_SPEC=$TORCH_SPEC"
else
  DEFAULT=$(resolves_to "torch==$TORCH_VERSION")
  case "$BUILD" in
    cpu)
      if [[ "$DEFAULT" == *+cpu ]]; then SPEC="torch==$TORCH_VERSION"; FROM="a local CPU wheel ($DEFAULT)"
      elif [ "$(uname -s)" = Linux ]; then SPEC="torch==$TORCH_VERSION --index-url $CPU_INDEX"; FROM="PyTorch's CPU index"
      else SPEC="torch==$TORCH_VERSION"; FROM="PyPI"
      fi
      say "torch $TORCH_VERSION, CPU build ($WHY), from $FROM";;
    cuda)
      if [[ "$DEFAULT" == *+cpu ]]; then  # a local CPU wheel would shadow PyPI's CUDA build: leave pip's user config out
        SPEC="--isolated torch==$TORCH_VERSION"
      else SPEC="torch==$TORCH_VERSION"
      fi
      say "torch $TORCH_VERSION, CUDA 13 build ($WHY; needs driver >= $CUDA13_MIN_DRIVER), from PyPI (about 3 GB)";;
    cuda12)
      SPEC="torch==$TORCH_VERSION --index-url $CUDA12_INDEX"
      say "torch $TORCH_VERSION, CUDA 12 build ($WHY is older than the $CUDA13_MIN_DRIVER that CUDA 13 needs), from $CUDA12_INDEX";;
  esac
fi
if [ "$PLAN" = 1 ]; then say "plan: pip install $SPEC"; exit 0; fi
# torch first, so the project's torch range is already satisfied and pip does not pull another build.
# shellcheck disable=SC2086  # SPEC may carry pip options such as --index-url
python -m pip install -q $SPEC
python -m pip install -q -e ".[test]"
say "installed: $(python -c 'import torch; print("torch", torch.__version__ + ", CUDA", torch.version.cuda or "none (CPU build)")')"
if [ "$BUILD" != cpu ] && [ -z "$(python -c 'import torch; print(torch.version.cuda or "")')" ]; then
  say "warning: a CUDA build was wanted but the installed torch is a CPU build; set TORCH_SPEC to a CUDA build"
fi
rm -f .venv/.anygpt-setup-*
touch "$stamp"
