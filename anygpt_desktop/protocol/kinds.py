"""Names of the modalities and of the kinds of job, as types (the strings are what files and the UI carry)."""

from __future__ import annotations

from typing import Literal, get_args

Modality = Literal["text", "image", "speech", "music"]
OutputModality = Literal["image", "speech", "music"]  # a unit span the model can be asked to produce
OUTPUT_MODALITIES: tuple[OutputModality, ...] = get_args(OutputModality)

JobKind = Literal["load", "turn", "clear", "restore", "configure"]  # what the engine's worker is asked to do
JOB_KINDS: tuple[JobKind, ...] = get_args(JobKind)
