#!/usr/bin/env bash
# Every GPU figure of the real-time work in one run, on a bare CUDA machine that has Python and PyTorch (about 7 min on
# an H100/H200-class GPU; each stage has its own time limit so the whole stays under 8 min):
#   1. bench decode --full-size: tokens/s, peak GPU memory and weight bandwidth of the HF eager loop, the static-cache
#      eager step and the compiled step (CUDA graphs), in bf16, int8 and int4 (int8/int4 where the build has them);
#   2. bench turn --full-size --device cuda: time to first audio of a spoken turn (LLaMA-2-7B, SoundStorm and
#      SpeechTokenizer at released size, random weights).
# Figures go to $OUT (default ./gpu-bench-out): device.txt, checks.txt (ids of the three ways agree, no host sync in
# the compiled step), decode.txt, turn.txt, summary.txt.
#
# The machine may have no network. What this project needs beyond a PyTorch image is carried as wheels in .whl/ at the
# repository root (git-ignored), fetched beforehand on a machine with PyPI access by
#   scripts/gpu_bench.sh fetch-wheels            # PYTHON_VERSION=3.12 by default (the GPU image's Python)
# The wheels: platformdirs, soundfile (+ cffi, pycparser), soxr, diffusers, webrtcvad-wheels, sounddevice: pure Python
# or self-contained manylinux wheels. torch, transformers, safetensors, sentencepiece, numpy, accelerate, protobuf,
# huggingface_hub and Pillow are expected in the image (a CUDA PyTorch image has them). Only the packages that fail to
# import are installed, into /tmp/anygpt-site, never into the image's own environment.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WHEELS="$ROOT/.whl"
PYTHON="${PYTHON:-python3}"
CARRIED="platformdirs soundfile cffi pycparser soxr diffusers webrtcvad-wheels sounddevice"

if [[ "${1:-}" == "fetch-wheels" ]]; then
    py="${PYTHON_VERSION:-3.12}"
    mkdir -p "$WHEELS"
    for name in $CARRIED; do
        "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$WHEELS" "$name" || exit 1
    done
    ls -la "$WHEELS"
    exit 0
fi

OUT="${OUT:-$ROOT/gpu-bench-out}"
mkdir -p "$OUT"
cd "$ROOT" || exit 1
export PYTHONUNBUFFERED=1
export TORCHINDUCTOR_CACHE_DIR="${TORCHINDUCTOR_CACHE_DIR:-/tmp/anygpt-inductor}"
export HF_HUB_OFFLINE=1

# -- what the image lacks, from the carried wheels ---------------------------------------------------------------
missing=()
declare -A module_of=([platformdirs]=platformdirs [soundfile]=soundfile [cffi]=cffi [pycparser]=pycparser
    [soxr]=soxr [diffusers]=diffusers [webrtcvad-wheels]=webrtcvad [sounddevice]=sounddevice)
for name in $CARRIED; do
    "$PYTHON" -c "import ${module_of[$name]}" >/dev/null 2>&1 || missing+=("$name")
done
if ((${#missing[@]})); then
    wheels=()
    for name in "${missing[@]}"; do
        pattern="${name//-/_}"
        found=$(ls "$WHEELS"/"$pattern"-*.whl "$WHEELS"/"$name"-*.whl 2>/dev/null | head -1)
        [[ -n "$found" ]] && wheels+=("$found") || echo "no carried wheel for $name (run: scripts/gpu_bench.sh fetch-wheels)"
    done
    if ((${#wheels[@]})); then
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/anygpt-site "${wheels[@]}" || echo "installing the carried wheels failed"
    fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}:/tmp/anygpt-site"

# -- the device --------------------------------------------------------------------------------------------------
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
    "$PYTHON" -c "import torch, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'transformers', transformers.__version__); print(torch.cuda.get_device_name(0))"
} | tee "$OUT/device.txt"

stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, keep its output, never stop the script
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit} s)"
    local t0=$SECONDS
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$OUT/$name.txt"
}

# no host syncs in the compiled step, and the ids of the three ways on a 2-layer full-width bf16 model
cat >/tmp/anygpt_gpu_checks.py <<'PY'
import torch
from anygpt_desktop.bench.decode import HFEagerBackend, random_llm
from anygpt_desktop.engine.static_backend import StaticCacheBackend, make_backend

llm = random_llm(torch.device("cuda"), torch.bfloat16, layers=2)
prompt = [1] + [3 + (k * 7919) % 31000 for k in range(40)]

def greedy(backend, n=48):
    logits, _ = backend.prefill(prompt)
    ids = []
    for _ in range(n):
        token = torch.argmax(logits)
        ids.append(token)
        logits = backend.step(token)
    return [int(i) for i in ids]

compiled = make_backend(llm, "compiled")
print("compiled:", compiled.compiled, "fallback:", compiled.compile_error)
runs = {"hf": greedy(HFEagerBackend(llm)), "static eager": greedy(StaticCacheBackend(llm)), "compiled": greedy(compiled)}
for name, ids in runs.items():
    same = next((k for k, (a, b) in enumerate(zip(ids, runs["hf"])) if a != b), len(ids))
    print(f"{name:>12}: first {same} of {len(ids)} greedy ids equal to HF's (bf16: kernels may differ late)")
compiled.prefill(prompt)
token = torch.argmax(compiled.step(5))
torch.cuda.synchronize()
torch.cuda.set_sync_debug_mode("error")
try:
    for _ in range(16):
        token = torch.argmax(compiled.step(token))  # device tensor in, device tensor out
    print("no host sync in 16 compiled steps")
except RuntimeError as exc:
    print("HOST SYNC in the step:", exc)
finally:
    torch.cuda.set_sync_debug_mode(0)
PY
stage checks 90 "$PYTHON" /tmp/anygpt_gpu_checks.py
stage decode 270 "$PYTHON" -m anygpt_desktop bench decode --full-size --device cuda \
    --precision bf16 int8 int4 --tokens 256
stage turn 120 "$PYTHON" -m anygpt_desktop bench turn --full-size --device cuda

{
    cat "$OUT/device.txt"
    echo
    grep -E "compiled|greedy|sync|==" "$OUT/checks.txt"
    echo
    grep -E "variant|tokens/s|bf16|int8|int4|fp16|==" "$OUT/decode.txt"
    echo
    grep -E "decode loop|time to first audio|first audio|memory|==" "$OUT/turn.txt"
} >"$OUT/summary.txt"
cat "$OUT/summary.txt"
