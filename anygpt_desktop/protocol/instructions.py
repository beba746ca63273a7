"""Instruction lists and task prompts as data (reference-behaviour §2.3–2.4), and a seedable instruction choice.

The lists are kept verbatim, duplicates included: the reference picks with ``random.choice``, so duplicates weight
the choice.
"""

from __future__ import annotations

import json
import random
from functools import lru_cache
from importlib import resources
from typing import Any


@lru_cache(maxsize=None)
def _load(name: str) -> Any:
    return json.loads(resources.files("anygpt_desktop.protocol").joinpath("data", name).read_text(encoding="utf-8"))


def other2text_instructions() -> dict[str, list[str]]:
    """Instructions for x → text tasks (caption, ASR, music description), by input modality."""
    return _load("other2text_instructions.json")


def text2other_instructions() -> dict[str, list[str]]:
    """Instructions for text → x tasks (image, speech, music generation), by output modality."""
    return _load("text2other_instructions.json")


def task_prompts() -> dict[str, str]:
    """The reference's ``task_prompts`` as Python builds it (20 keys; later duplicate keys win)."""
    return _load("task_prompts.json")


def choose_instruction(
    direction: str, modality: str, rng: random.Random | None = None, index: int | None = None
) -> str:
    """One instruction for ``direction`` ("other2text" or "text2other") and a modality.

    ``index`` fixes the entry (the golden cases use 0); otherwise ``rng.choice`` (a seeded ``random.Random`` makes
    it reproducible; None uses a fresh unseeded one, like the reference).
    """
    lists = other2text_instructions() if direction == "other2text" else text2other_instructions()
    if direction not in ("other2text", "text2other"):
        raise ValueError(f"unknown direction {direction!r}")
    try:
        options = lists[modality]
    except KeyError:
        raise ValueError(f"no {direction} instructions for modality {modality!r}") from None
    if index is not None:
        return options[index]
    return (rng or random.Random()).choice(options)
