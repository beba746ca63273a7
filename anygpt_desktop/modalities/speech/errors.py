"""Errors raised by the speech modality, with messages meant for the user."""

from __future__ import annotations


class SpeechError(Exception):
    """Base class of every speech-modality error."""


class CheckpointError(SpeechError):
    """A speech checkpoint or its config is missing, unreadable or does not fit the model."""


class SpeechInputError(SpeechError):
    """Audio or speech units given to a speech model are unusable (wrong shape, empty, out of range)."""


class VoicePromptError(SpeechInputError):
    """A voice-prompt recording cannot be used (silent, too short, unreadable)."""
