"""A tiny Stable unCLIP folder for the image tests, in the released layout (the real schedulers' configs).

Used when the project's tiny kit has no unCLIP writer; it keeps the real 1024-d image embedding and the real
schedulers, shrinks everything else (unet sample 8 x VAE scale 2 -> 16x16 images).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

SCHEDULERS = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "configs" / "stable-diffusion-2-1-unclip"


def _tokenizer_files(folder: Path) -> None:
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chars = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="<|endoftext|>", model_max_length=77).save_pretrained(
        folder
    )


def write_test_unclip(folder: Path, seed: int = 0) -> Path:
    from diffusers import AutoencoderKL, DDPMScheduler, PNDMScheduler, StableUnCLIPImg2ImgPipeline, UNet2DConditionModel
    from diffusers.pipelines.stable_diffusion.stable_unclip_image_normalizer import StableUnCLIPImageNormalizer
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    tok_dir = folder.parent / (folder.name + "_tok")
    _tokenizer_files(tok_dir)
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=1,
            num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(32, 64), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=(2, 4), cross_attention_dim=32,
        class_embed_type="projection", projection_class_embeddings_input_dim=2048, use_linear_projection=True,
        upcast_attention=True, norm_num_groups=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(16, 32), in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=8,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), sample_size=16,
    )
    sched_cfg = json.loads((SCHEDULERS / "scheduler" / "scheduler_config.json").read_text())
    noise_cfg = json.loads((SCHEDULERS / "image_noising_scheduler" / "scheduler_config.json").read_text())
    pipe = StableUnCLIPImg2ImgPipeline(
        feature_extractor=None,
        image_encoder=None,
        image_normalizer=StableUnCLIPImageNormalizer(embedding_dim=1024),
        image_noising_scheduler=DDPMScheduler.from_config(noise_cfg),
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        unet=unet,
        scheduler=PNDMScheduler.from_config(sched_cfg),
        vae=vae,
    )
    pipe.save_pretrained(folder)
    return folder
