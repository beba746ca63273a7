"""``anygpt-desktop bench speech``: real-time factors of the speech pipeline for 5 s of speech.

``--full-size`` builds the released architectures with random weights (no download needed); otherwise the models
are loaded from the models folder (``--models`` / ``$ANYGPT_MODELS_DIR``). RTF = compute seconds / audio seconds
(below 1 is faster than real time). SoundStorm runs AnyGPT's 3 steps, unprompted and with a 3 s voice prompt.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Callable

import torch

from anygpt_desktop.modalities.speech.soundstorm import SoundStorm, SoundStormConfig, load_soundstorm
from anygpt_desktop.modalities.speech.speechtokenizer import SpeechTokenizer, SpeechTokenizerConfig, load_speechtokenizer

logger = logging.getLogger(__name__)

SECONDS = 5.0
PROMPT_SECONDS = 3.0


def random_models(device: str, dtype: torch.dtype) -> tuple[SpeechTokenizer, SoundStorm]:
    """Both models at released size with random weights (fast init: normal 0.02, Snake alpha 1, codebooks N(0,1))."""
    gen = torch.Generator().manual_seed(0)
    with torch.device("meta"):
        st, ss = SpeechTokenizer(SpeechTokenizerConfig()), SoundStorm(SoundStormConfig())
    st, ss = st.to_empty(device="cpu"), ss.to_empty(device="cpu")
    with torch.no_grad():
        for model in (st, ss):
            for name, t in list(model.named_parameters()) + list(model.named_buffers()):
                if name.endswith(".alpha") or name.endswith("norm.weight") or name.endswith(".gamma"):
                    t.fill_(1.0)
                elif t.is_floating_point():
                    t.normal_(0, 0.02, generator=gen)
        for i in range(st.cfg.n_q):
            st.quantizer.codebook(i).embed.normal_(0, 1.0, generator=gen)
    ss.net.quantizer_offsets = torch.arange(ss.cfg.num_quantizers) * (ss.cfg.codebook_size + 1)
    st.eval().requires_grad_(False).to(device)
    ss.eval().requires_grad_(False).to(device=device, dtype=dtype)
    if dtype != torch.float32:
        st.encoder.to(dtype)
        st.decoder.to(dtype)
    return st, ss


def _time(fn: Callable[[], object], device: str, repeats: int = 1) -> float:
    fn()  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def run(args: argparse.Namespace) -> int:
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    if args.full_size:
        st, ss = random_models(device, dtype)
        what = "full size, random weights"
    else:
        from anygpt_desktop.layout import ModelPaths, resolve_models_dir

        paths = ModelPaths(resolve_models_dir(getattr(args, "models", None)))
        st = load_speechtokenizer(paths.speechtokenizer_config, paths.speechtokenizer_ckpt, device, dtype)
        ss = load_soundstorm(paths.soundstorm_ckpt, device, dtype)
        what = f"models from {paths.root}"
    sr, hop = st.sample_rate, st.hop_length
    frames = int(SECONDS * sr) // hop
    wav = torch.randn(1, 1, frames * hop, generator=torch.Generator().manual_seed(1)) * 0.1
    codes = st.encode(wav)
    prompt = st.encode(wav[..., : int(PROMPT_SECONDS * sr)]).permute(1, 2, 0)
    semantic = codes[0]
    rows = [
        ("encode", _time(lambda: st.encode(wav), device)),
        ("soundstorm 3 steps", _time(lambda: ss.generate(semantic, None, steps=3), device)),
        (f"soundstorm 3 steps + {PROMPT_SECONDS:g} s prompt", _time(lambda: ss.generate(semantic, prompt, steps=3), device)),
        ("decode", _time(lambda: st.decode(codes), device)),
    ]
    threads = torch.get_num_threads()
    print(f"speech bench: {SECONDS:g} s of speech, {what}, device {device} ({dtype}), {threads} threads")
    for name, seconds in rows:
        print(f"  {name:<34} {seconds:7.2f} s   RTF {seconds / SECONDS:.3f}")
    total = rows[1][1] + rows[3][1]
    print(f"  {'units -> audio (soundstorm+decode)':<34} {total:7.2f} s   RTF {total / SECONDS:.3f}")
    return 0
