#!/usr/bin/env bash
# A separate, cached Python environment with vLLM's Python package, for the logits processor's tests against vLLM's
# own classes. vLLM pins a newer torch than the app; its logits-processor interface needs none of its CUDA kernels, so
# it is installed without dependencies next to the app's torch and the few pure-Python packages its import needs.
# Prints the environment's python on the last line. Reuses a finished environment (marker file); about 3-6 minutes
# to create on a 2-core machine (download of the ~340 MB vLLM wheel included).
set -euo pipefail
VLLM_VERSION="${ANYGPT_VLLM_VERSION:-0.33.0}"
ENV_DIR="${ANYGPT_VLLM_ENV:-${XDG_CACHE_HOME:-$HOME/.cache}/anygpt-desktop/vllm-env-$VLLM_VERSION}"
PY="${PYTHON:-python3}"
if [ -f "$ENV_DIR/.complete" ]; then
  echo "$ENV_DIR/bin/python"
  exit 0
fi
rm -rf "$ENV_DIR"
mkdir -p "$(dirname "$ENV_DIR")"
"$PY" -m venv "$ENV_DIR"
pip=("$ENV_DIR/bin/python" -m pip install -q --disable-pip-version-check)
"${pip[@]}" "torch==2.13.0" numpy >&2
"${pip[@]}" --no-deps "vllm==$VLLM_VERSION" >&2
# what `import vllm` and its logits-processor module import, without vLLM's GPU stack
"${pip[@]}" packaging msgspec pydantic regex cbor2 psutil pyzmq urllib3 "transformers>=5.16.1,<5.21" aiohttp requests \
  openai-harmony openai cloudpickle pillow pybase64 cachetools uvloop py-cpuinfo pyyaml sentencepiece pytest \
  prometheus_client "xgrammar==0.2.8" "fastapi>=0.133,<0.137" partial_json_parser "llguidance>=1.7,<1.8" >&2
"$ENV_DIR/bin/python" -c "from vllm.v1.sample.sampler import Sampler; from vllm.v1.sample.logits_processor import BatchUpdateBuilder" >&2
touch "$ENV_DIR/.complete"
echo "$ENV_DIR/bin/python"
