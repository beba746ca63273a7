"""Where each component lives inside a models folder.

The layout follows the reference CLIs' defaults (reference-behaviour §8): ``speechtokenizer/``, ``soundstorm/`` and
``seed-tokenizer-2/`` as the AnyGPT scripts expect them, the hub folders under their repository names.
Both the downloader and the tiny model kit write exactly this layout, and every loader reads it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ENV_MODELS_DIR = "ANYGPT_MODELS_DIR"

CHAT_LLM = "AnyGPT-chat"
BASE_LLM = "AnyGPT-base"
SPEECHTOKENIZER_CKPT = "speechtokenizer/ckpt.dev"
SPEECHTOKENIZER_CONFIG = "speechtokenizer/config.json"
SOUNDSTORM_CKPT = "soundstorm/speechtokenizer_soundstorm_mls.pt"
SEED_QUANTIZER = "seed-tokenizer-2/seed_quantizer.pt"
EVA_VIT_G = "eva_vit_g/eva_vit_g.pth"
ENCODEC_32K = "encodec_32khz"
UNCLIP = "stable-diffusion-2-1-unclip"


@dataclass(frozen=True)
class ModelPaths:
    """Absolute paths of every component under one models folder."""

    root: Path

    @property
    def chat_llm(self) -> Path:
        return self.root / CHAT_LLM

    @property
    def base_llm(self) -> Path:
        return self.root / BASE_LLM

    @property
    def speechtokenizer_ckpt(self) -> Path:
        return self.root / SPEECHTOKENIZER_CKPT

    @property
    def speechtokenizer_config(self) -> Path:
        return self.root / SPEECHTOKENIZER_CONFIG

    @property
    def soundstorm_ckpt(self) -> Path:
        return self.root / SOUNDSTORM_CKPT

    @property
    def seed_quantizer(self) -> Path:
        return self.root / SEED_QUANTIZER

    @property
    def eva_vit_g(self) -> Path:
        return self.root / EVA_VIT_G

    @property
    def encodec_32k(self) -> Path:
        return self.root / ENCODEC_32K

    @property
    def unclip(self) -> Path:
        return self.root / UNCLIP


def default_models_dir() -> Path:
    """The models folder: ``$ANYGPT_MODELS_DIR`` if set, else ``<user data dir>/models``."""
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_data_dir

    return Path(user_data_dir("anygpt-desktop", appauthor=False)) / "models"


def resolve_models_dir(flag: str | os.PathLike[str] | None = None, setting: str | None = None) -> Path:
    """Pick the models folder: command-line flag, then environment, then saved setting, then the default."""
    if flag:
        return Path(flag).expanduser()
    if os.environ.get(ENV_MODELS_DIR):
        return Path(os.environ[ENV_MODELS_DIR]).expanduser()
    if setting:
        return Path(setting).expanduser()
    return default_models_dir()
