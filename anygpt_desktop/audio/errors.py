"""Exceptions of the audio package. Every message is written for the user and says what to do."""

from __future__ import annotations


class AudioError(Exception):
    """Base class of every audio error; ``str(error)`` is a readable message for the user."""


class AudioInputError(AudioError):
    """An audio file cannot be used as input."""


class AudioFileNotFoundError(AudioInputError):
    """The file does not exist (or is not a file)."""


class UnsupportedAudioError(AudioInputError):
    """The file is corrupt, or its format/codec cannot be read on this system."""


class EmptyAudioError(AudioInputError):
    """The file holds no samples."""


class SilentAudioError(AudioInputError):
    """The file holds only silence (raised unless the caller allows silent input)."""


class AudioTooLongError(AudioInputError):
    """The file is longer than the cap the caller set (raised unless the caller asked for truncation)."""


class AudioDeviceError(AudioError):
    """A sound device (or the sound system itself) cannot be used."""


class AudioBackendUnavailableError(AudioDeviceError):
    """The PortAudio library (sounddevice's backend) is not installed or does not load."""


class MicrophoneError(AudioDeviceError):
    """Recording failed: no microphone, it cannot be opened, or it disappeared while recording."""


class NoMicrophoneError(MicrophoneError):
    """The system has no input device at all (or not the one asked for)."""


class PlaybackError(AudioDeviceError):
    """Playing sound failed: no output device, it cannot be opened, or it disappeared while playing."""


class NoSpeakerError(PlaybackError):
    """The system has no output device at all (or not the one asked for)."""
