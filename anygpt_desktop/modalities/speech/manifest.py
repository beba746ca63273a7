"""Full-size state specs of the speech checkpoints, built on the ``meta`` device (no memory, no weights).

Used by ``verify-reference --only manifests``: the keys, shapes and dtypes are what the released files hold, i.e.
with weight norm unfolded back into ``weight_g``/``weight_v`` for the SpeechTokenizer.
"""

from __future__ import annotations

from typing import Any

import torch

from anygpt_desktop.modalities.speech.soundstorm import SoundStorm, SoundStormConfig
from anygpt_desktop.modalities.speech.speechtokenizer import (
    SpeechTokenizer,
    SpeechTokenizerConfig,
    weight_norm_prefixes,
)

StateSpec = dict[str, tuple[tuple[int, ...], str]]


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def speechtokenizer_file_spec(model: SpeechTokenizer) -> StateSpec:
    """``{key: (shape, dtype)}`` of the file this model would be saved as (old weight-norm naming)."""
    wn = set(weight_norm_prefixes(model))
    spec: StateSpec = {}
    for key, value in model.state_dict().items():
        prefix, _, leaf = key.rpartition(".")
        dtype = _dtype_name(value.dtype)
        if prefix in wn and leaf == "weight":
            shape = tuple(value.shape)
            spec[f"{prefix}.weight_g"] = ((shape[0],) + (1,) * (len(shape) - 1), dtype)
            spec[f"{prefix}.weight_v"] = (shape, dtype)
        else:
            spec[key] = (tuple(value.shape), dtype)
    return spec


def speechtokenizer_state_spec(manifest: dict[str, Any]) -> StateSpec:
    """SpeechTokenizer at the manifest's config (the released Snake config), built on ``meta``."""
    cfg = SpeechTokenizerConfig.from_dict(manifest.get("config_used") or SpeechTokenizerConfig().to_dict())
    with torch.device("meta"):
        model = SpeechTokenizer(cfg)
    return speechtokenizer_file_spec(model)


def soundstorm_config_from_hparams(hparams: dict[str, Any]) -> SoundStormConfig:
    """Our config from AnyGPT's ``ConformerWrapper``/``SoundStorm`` constructor arguments."""
    conformer = hparams.get("conformer", {})
    return SoundStormConfig(
        dim=conformer.get("dim", 1024),
        depth=conformer.get("depth", 12),
        heads=conformer.get("heads", 8),
        dim_head=conformer.get("dim_head", 128),
        ff_mult=conformer.get("ff_mult", 4),
        conv_expansion=conformer.get("conv_expansion_factor", 2),
        conv_kernel=conformer.get("conv_kernel_size", 31),
        codebook_size=hparams.get("codebook_size", 1024),
        num_quantizers=hparams.get("num_quantizers", 7),
        num_semantic_token_ids=hparams.get("num_semantic_token_ids", 1024),
    )


def soundstorm_state_spec(manifest: dict[str, Any]) -> StateSpec:
    """SoundStorm at the manifest's hyper-parameters (released: dim 1024, depth 12, 8 x 128 heads), on ``meta``."""
    cfg = soundstorm_config_from_hparams(manifest.get("hyper_parameters") or {})
    with torch.device("meta"):
        model = SoundStorm(cfg)
    return {k: (tuple(v.shape), _dtype_name(v.dtype)) for k, v in model.state_dict().items()}
