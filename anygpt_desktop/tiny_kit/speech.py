"""Tiny SpeechTokenizer and SoundStorm in the released layouts, with random weights but real token spaces.

* ``speechtokenizer/config.json`` + ``speechtokenizer/ckpt.dev``: n_filters 4, dimension 32, semantic_dimension 16,
  2 LSTM layers; unchanged hop 320 (strides 8,5,4,2), 16 kHz, 8 x 1024 codebooks. Convs saved with old-style weight
  norm (``weight_g``/``weight_v``) like the released file. Snake alphas U(0.5, 1.5). The codebooks are calibrated on a
  noise signal (per-layer residual mean + std * N(0, 1)) so that codes vary (an all-zero codebook emits one code).
* ``soundstorm/speechtokenizer_soundstorm_mls.pt``: dim 32, depth 2, 2 heads x 16 (the loader's convention for
  non-released widths), 7 x 1024 levels, 1024 semantic ids; the logit projection is scaled up so sampling is peaked.

Both writers are deterministic for a seed and leave torch's global RNG untouched.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import torch

from anygpt_desktop.layout import SOUNDSTORM_CKPT, SPEECHTOKENIZER_CKPT, SPEECHTOKENIZER_CONFIG

TINY_SPEECHTOKENIZER = {
    "n_filters": 4,
    "strides": [8, 5, 4, 2],
    "dimension": 32,
    "semantic_dimension": 16,
    "bidirectional": True,
    "dilation_base": 2,
    "residual_kernel_size": 3,
    "n_residual_layers": 1,
    "lstm_layers": 2,
    "activation": "Snake",
    "sample_rate": 16000,
    "codebook_size": 1024,
    "n_q": 8,
}
TINY_SOUNDSTORM = {"dim": 32, "depth": 2, "heads": 2, "dim_head": 16}
LOGIT_GAIN = 8.0


def _unfold_weight_norm(model: torch.nn.Module) -> "OrderedDict[str, torch.Tensor]":
    """The model's state dict with every conv weight stored as ``weight_g`` (per-output norm) + ``weight_v``."""
    from anygpt_desktop.modalities.speech.speechtokenizer import weight_norm_prefixes

    wn = set(weight_norm_prefixes(model))
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, value in model.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        if prefix in wn and leaf == "weight":
            dims = tuple(range(1, value.ndim))
            out[f"{prefix}.weight_g"] = value.norm(dim=dims, keepdim=True).clone()
            out[f"{prefix}.weight_v"] = value.clone()
        else:
            out[key] = value.clone()
    return out


@torch.no_grad()
def _calibrate_codebooks(model: torch.nn.Module, gen: torch.Generator) -> None:
    """Give each RVQ layer codes spread like its input residuals on a noise signal."""
    noise = torch.randn(1, 1, 16000 * 2, generator=gen) * 0.1
    residual = model.encoder.model(noise)[0].t()  # [frames, dim]
    for i in range(model.cfg.n_q):
        book = model.quantizer.codebook(i)
        mean, std = residual.mean(0), residual.std(0) + 1e-3
        book.embed.copy_(mean + std * torch.randn(book.embed.shape, generator=gen))
        book.embed_avg.copy_(book.embed)
        book.cluster_size.fill_(1.0)
        book.inited.fill_(1.0)
        residual = residual - book.embed[book.nearest(residual)]


def write_tiny_speechtokenizer(root: Path, seed: int) -> None:
    from anygpt_desktop.modalities.speech.speechtokenizer import SpeechTokenizer, SpeechTokenizerConfig

    cfg = SpeechTokenizerConfig.from_dict(TINY_SPEECHTOKENIZER)
    gen = torch.Generator().manual_seed(seed + 31)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 31)
        model = SpeechTokenizer(cfg).eval()
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith(".alpha"):
                param.copy_(torch.rand(param.shape, generator=gen) + 0.5)
    _calibrate_codebooks(model, gen)
    ckpt = Path(root) / SPEECHTOKENIZER_CKPT
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_unfold_weight_norm(model), ckpt)
    (Path(root) / SPEECHTOKENIZER_CONFIG).write_text(json.dumps(TINY_SPEECHTOKENIZER, indent=2), encoding="utf-8")


def write_tiny_soundstorm(root: Path, seed: int) -> None:
    from anygpt_desktop.modalities.speech.soundstorm import SoundStorm, SoundStormConfig

    cfg = SoundStormConfig(**TINY_SOUNDSTORM)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 47)
        model = SoundStorm(cfg)
    with torch.no_grad():
        model.net.to_logits[2].weight.normal_(0, 1.0 / cfg.dim**0.5, generator=torch.Generator().manual_seed(seed + 48))
        model.net.to_logits[2].weight.mul_(LOGIT_GAIN)
    path = Path(root) / SOUNDSTORM_CKPT
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(OrderedDict((k, v.clone()) for k, v in model.state_dict().items()), path)
