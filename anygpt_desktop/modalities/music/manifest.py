"""Key names of the released Encodec 32 kHz checkpoint, and the mapping between them and transformers' in-memory names.

Deliberate version mapping: transformers 4.x (which wrote ``facebook/encodec_32khz`` and the golden tiny file) stores
weight norm as ``<conv>.weight_g`` / ``<conv>.weight_v``; transformers 5 keeps it as a parametrization,
``<conv>.parametrizations.weight.original0`` (g) / ``original1`` (v), and converts the stored names on load.
"""

from __future__ import annotations

from typing import Any, Mapping, TypeVar

import torch

# facebook/encodec_32khz config.json (current hub revision), used when a manifest carries no config.
ENCODEC_32KHZ_CONFIG: dict[str, Any] = {
    "architectures": ["EncodecModel"],
    "audio_channels": 1,
    "chunk_length_s": None,
    "codebook_dim": 128,
    "codebook_size": 2048,
    "compress": 2,
    "dilation_growth_rate": 2,
    "hidden_size": 128,
    "kernel_size": 7,
    "last_kernel_size": 7,
    "model_type": "encodec",
    "norm_type": "weight_norm",
    "normalize": False,
    "num_filters": 64,
    "num_lstm_layers": 2,
    "num_residual_layers": 1,
    "overlap": None,
    "pad_mode": "reflect",
    "residual_kernel_size": 3,
    "sampling_rate": 32000,
    "target_bandwidths": [2.2],
    "torch_dtype": "float32",
    "transformers_version": "4.31.0.dev0",
    "trim_right_ratio": 1.0,
    "upsampling_ratios": [8, 5, 4, 4],
    "use_causal_conv": False,
    "use_conv_shortcut": False,
}

_PARAM_TO_FILE = {
    ".parametrizations.weight.original0": ".weight_g",
    ".parametrizations.weight.original1": ".weight_v",
}

V = TypeVar("V")


def released_key(name: str) -> str:
    """transformers-5 in-memory name → the name the released file holds (identity for other keys)."""
    for new, old in _PARAM_TO_FILE.items():
        if name.endswith(new):
            return name[: -len(new)] + old
    return name


def to_released_names(state: Mapping[str, V]) -> dict[str, V]:
    """Rename a state dict (or spec) from in-memory weight-norm names to the released ``weight_g``/``weight_v``."""
    return {released_key(k): v for k, v in state.items()}


def build_config(config: Mapping[str, Any] | None = None) -> Any:
    """An ``EncodecConfig`` from a config.json dict (default: the real 32 kHz one)."""
    from transformers import EncodecConfig

    fields = {k: v for k, v in (config or ENCODEC_32KHZ_CONFIG).items() if k not in ("architectures", "model_type")}
    return EncodecConfig(**fields)


def encodec_state_spec(manifest: Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Keys/shapes/dtypes of the released file, from a full-size ``EncodecModel`` built on the meta device."""
    from transformers import EncodecModel

    config = build_config(manifest.get("config_used"))
    with torch.device("meta"):
        model = EncodecModel(config)
    return {
        released_key(k): (tuple(v.shape), str(v.dtype).removeprefix("torch."))
        for k, v in model.state_dict().items()
    }
