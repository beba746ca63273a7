"""Audio without Qt: file loading and resampling, microphone capture, voice-activity endpointing, streaming playback.

Importing this package never needs PortAudio; sounddevice is loaded only when a device is used
(``AudioBackendUnavailableError`` then says what to install).
"""

from anygpt_desktop.audio.errors import (
    AudioBackendUnavailableError,
    AudioDeviceError,
    AudioError,
    AudioFileNotFoundError,
    AudioInputError,
    AudioTooLongError,
    EmptyAudioError,
    MicrophoneError,
    NoMicrophoneError,
    NoSpeakerError,
    PlaybackError,
    SilentAudioError,
    UnsupportedAudioError,
)

__all__ = [
    "AudioBackendUnavailableError",
    "AudioDeviceError",
    "AudioError",
    "AudioFileNotFoundError",
    "AudioInputError",
    "AudioTooLongError",
    "EmptyAudioError",
    "MicrophoneError",
    "NoMicrophoneError",
    "NoSpeakerError",
    "PlaybackError",
    "SilentAudioError",
    "UnsupportedAudioError",
]
