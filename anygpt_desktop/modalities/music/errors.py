"""Errors of the music modality, each with a message the user can act on."""

from __future__ import annotations


class MusicError(Exception):
    """Base class of every music-modality error."""


class MusicUnitError(MusicError, ValueError):
    """A music unit span that is not whole Encodec frames in the right codebook order."""


class MusicFileError(MusicError):
    """A music file that cannot be used (missing, unreadable, empty, too short or silent)."""


class MusicModelError(MusicError):
    """The Encodec 32 kHz model folder is missing, incomplete or does not match the expected configuration."""
