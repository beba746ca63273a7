"""Released ``stable-diffusion-2-1-unclip`` component configs, and their state-dict key lists built on ``meta``.

The configs are the released files (``_diffusers_version 0.15.0.dev0``); the tiny kit derives its small pipeline from
them. Name mapping between library versions: diffusers 0.42 names the UNet, VAE and image-normalizer
tensors exactly as diffusers 0.20.2 does (VAE mid-block attention ``to_q/to_k/to_v/to_out.0``; diffusers converts the
deprecated ``query/key/value/proj_attn`` of old files on load), so they need no renaming. transformers 5's
``CLIPTextModel`` drops the ``text_model.`` prefix in memory (its conversion mapping strips it on load) while 4.x and
the released file keep it, so ``released_text_encoder_key`` adds it back (``text_model.embeddings.position_ids`` is a
non-persistent buffer in both versions and is not listed).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

StateSpec = dict[str, tuple[tuple[int, ...], str]]

MODEL_INDEX: dict[str, Any] = {
    "_class_name": "StableUnCLIPImg2ImgPipeline",
    "_diffusers_version": "0.15.0.dev0",
    "feature_extractor": ["transformers", "CLIPImageProcessor"],
    "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
    "image_noising_scheduler": ["diffusers", "DDPMScheduler"],
    "image_normalizer": ["stable_diffusion", "StableUnCLIPImageNormalizer"],
    "scheduler": ["diffusers", "PNDMScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}

SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "PNDMScheduler",
    "_diffusers_version": "0.15.0.dev0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "clip_sample_range": 1.0,
    "dynamic_thresholding_ratio": 0.995,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "sample_max_value": 1.0,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "thresholding": False,
    "trained_betas": None,
}

IMAGE_NOISING_SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "DDPMScheduler",
    "_diffusers_version": "0.15.0.dev0",
    "beta_end": 0.02,
    "beta_schedule": "squaredcos_cap_v2",
    "beta_start": 0.0001,
    "clip_sample": True,
    "clip_sample_range": 1.0,
    "dynamic_thresholding_ratio": 0.995,
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "sample_max_value": 1.0,
    "thresholding": False,
    "trained_betas": None,
    "variance_type": "fixed_small",
}

IMAGE_NORMALIZER_CONFIG: dict[str, Any] = {
    "_class_name": "StableUnCLIPImageNormalizer",
    "_diffusers_version": "0.15.0.dev0",
    "_name_or_path": "./image_normalizer",
    "embedding_dim": 1024,
}

TEXT_ENCODER_CONFIG: dict[str, Any] = {
    "_name_or_path": "./text_encoder",
    "architectures": ["CLIPTextModel"],
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "dropout": 0.0,
    "eos_token_id": 2,
    "hidden_act": "gelu",
    "hidden_size": 1024,
    "initializer_factor": 1.0,
    "initializer_range": 0.02,
    "intermediate_size": 4096,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "model_type": "clip_text_model",
    "num_attention_heads": 16,
    "num_hidden_layers": 23,
    "pad_token_id": 1,
    "projection_dim": 512,
    "torch_dtype": "float16",
    "transformers_version": "4.28.0.dev0",
    "vocab_size": 49408,
}

UNET_CONFIG: dict[str, Any] = {
    "_class_name": "UNet2DConditionModel",
    "_diffusers_version": "0.15.0.dev0",
    "_name_or_path": "./unet",
    "act_fn": "silu",
    "attention_head_dim": [5, 10, 20, 20],
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "class_embed_type": "projection",
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 1024,
    "down_block_types": ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": 2048,
    "resnet_time_scale_shift": "default",
    "sample_size": 96,
    "time_cond_proj_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    "upcast_attention": True,
    "use_linear_projection": True,
}

VAE_CONFIG: dict[str, Any] = {
    "_class_name": "AutoencoderKL",
    "_diffusers_version": "0.15.0.dev0",
    "_name_or_path": "./vae",
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 768,
    "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"],
}


def model_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config.json dict without its bookkeeping fields (``_class_name``, ``_diffusers_version``, ...)."""
    return {k: v for k, v in config.items() if not k.startswith("_")}


def _spec(model: torch.nn.Module) -> StateSpec:
    return {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in model.state_dict().items()}


def unet_state_spec(manifest: Mapping[str, Any]) -> StateSpec:
    """The released ``unet/`` weights (diffusers ``UNet2DConditionModel``)."""
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        return _spec(UNet2DConditionModel.from_config(model_fields(UNET_CONFIG)))


def vae_state_spec(manifest: Mapping[str, Any]) -> StateSpec:
    """The released ``vae/`` weights (diffusers ``AutoencoderKL``)."""
    from diffusers import AutoencoderKL

    with torch.device("meta"):
        return _spec(AutoencoderKL.from_config(model_fields(VAE_CONFIG)))


TEXT_MODEL_PREFIX = "text_model."


def released_text_encoder_key(name: str) -> str:
    """transformers-5 ``CLIPTextModel`` in-memory name → the released file's name (``text_model.`` prefixed)."""
    return name if name.startswith(TEXT_MODEL_PREFIX) else TEXT_MODEL_PREFIX + name


def text_encoder_state_spec(manifest: Mapping[str, Any]) -> StateSpec:
    """The released ``text_encoder/`` weights (transformers ``CLIPTextModel``), listed in float32 like the manifest."""
    from transformers import CLIPTextConfig, CLIPTextModel

    skip = ("_name_or_path", "architectures", "model_type", "torch_dtype", "transformers_version")
    fields = {k: v for k, v in TEXT_ENCODER_CONFIG.items() if k not in skip}
    with torch.device("meta"):
        model = CLIPTextModel(CLIPTextConfig(**fields))
    return {released_text_encoder_key(k): v for k, v in _spec(model.float()).items()}


def image_normalizer_state_spec(manifest: Mapping[str, Any]) -> StateSpec:
    """The released ``image_normalizer/`` tensors (``mean``/``std`` of the CLIP image embedding)."""
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer

    with torch.device("meta"):
        return _spec(StableUnCLIPImageNormalizer(**model_fields(IMAGE_NORMALIZER_CONFIG)))
