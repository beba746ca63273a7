"""The sound system: loading sounddevice (PortAudio) lazily, listing and choosing devices.

``import sounddevice`` fails when the PortAudio library (Debian: ``libportaudio2``) is missing. The package must still
import without it, so sounddevice is loaded only when a device is actually used, and the failure becomes an
``AudioBackendUnavailableError`` that tells the user what to install.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from anygpt_desktop.audio.errors import AudioBackendUnavailableError, NoMicrophoneError, NoSpeakerError

log = logging.getLogger(__name__)

DeviceSpec = int | str | None  # None = the system default; int = PortAudio index; str = (part of) the device name
Direction = Literal["input", "output"]

_INSTALL_HINT = {
    "linux": "install PortAudio (Debian/Ubuntu: sudo apt install libportaudio2)",
    "darwin": "reinstall the sounddevice package (its wheel bundles PortAudio)",
    "win32": "reinstall the sounddevice package (its wheel bundles PortAudio)",
}


def load_sounddevice() -> ModuleType:
    """Import and return ``sounddevice``; raise ``AudioBackendUnavailableError`` with an install hint if it cannot load."""
    try:
        import sounddevice
    except (OSError, ImportError) as exc:
        hint = _INSTALL_HINT.get(sys.platform, "install PortAudio and the sounddevice package")
        raise AudioBackendUnavailableError(
            f"Sound input and output are unavailable: the PortAudio library could not be loaded ({exc}). To fix it, {hint}."
        ) from exc
    return sounddevice


def portaudio_error() -> type[BaseException]:
    """sounddevice's ``PortAudioError`` class (raises ``AudioBackendUnavailableError`` when PortAudio is missing)."""
    return load_sounddevice().PortAudioError


def refresh_devices() -> None:
    """Re-scan devices (PortAudio only sees the devices, and the PULSE_SERVER, present when it was initialised).

    Call it only while no stream is open: it restarts PortAudio.
    """
    sd = load_sounddevice()
    sd._terminate()  # sounddevice exposes no public re-scan; these two are its documented-in-source way to do it
    sd._initialize()


@dataclass(frozen=True)
class AudioDevice:
    """One PortAudio device as the settings page shows it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default: bool


def list_devices(direction: Direction) -> list[AudioDevice]:
    """Devices that can record (``"input"``) or play (``"output"``); the system default is flagged."""
    sd = load_sounddevice()
    key = "max_input_channels" if direction == "input" else "max_output_channels"
    default = _default_index(sd, direction)
    hostapis = sd.query_hostapis()
    out = []
    for dev in sd.query_devices():
        if dev[key] <= 0:
            continue
        out.append(
            AudioDevice(
                index=int(dev["index"]),
                name=str(dev["name"]),
                hostapi=str(hostapis[dev["hostapi"]]["name"]),
                max_input_channels=int(dev["max_input_channels"]),
                max_output_channels=int(dev["max_output_channels"]),
                default_samplerate=float(dev["default_samplerate"]),
                is_default=int(dev["index"]) == default,
            )
        )
    return out


def list_input_devices() -> list[AudioDevice]:
    return list_devices("input")


def list_output_devices() -> list[AudioDevice]:
    return list_devices("output")


def resolve_device(device: DeviceSpec, direction: Direction) -> dict[str, Any]:
    """PortAudio's description of the chosen device; ``NoMicrophoneError``/``NoSpeakerError`` when there is none."""
    sd = load_sounddevice()
    missing = NoMicrophoneError if direction == "input" else NoSpeakerError
    what = "microphone" if direction == "input" else "sound output device"
    if not list_devices(direction):
        raise missing(f"No {what} was found. Connect one (or enable it in the system's sound settings) and try again.")
    try:
        return dict(sd.query_devices(device, kind=direction))
    except (ValueError, sd.PortAudioError) as exc:
        names = ", ".join(d.name for d in list_devices(direction))
        raise missing(f"The {what} '{device}' is not available ({exc}). Available: {names}.") from exc


def _default_index(sd: ModuleType, direction: Direction) -> int:
    try:
        return int(sd.query_devices(kind=direction)["index"])
    except (ValueError, sd.PortAudioError):
        return -1


def open_stream_at_first_rate(
    factory: Any, rates: list[int], refused: type[BaseException], what: str, block_ms: float, **kwargs: Any
) -> tuple[Any, int]:
    """Open a float32 stream at the first of ``rates`` the device accepts: ``(stream, rate)``.

    ``refused`` is the backend's error type (PortAudioError); the last refusal is raised when no rate works.
    """
    last: BaseException | None = None
    for rate in rates:
        try:
            stream = factory(samplerate=rate, blocksize=int(rate * block_ms / 1000), dtype="float32", **kwargs)
        except refused as exc:
            log.info("%s refused %s Hz: %s", what, rate, exc)
            last = exc
            continue
        return stream, int(rate)
    raise last if last is not None else refused(f"{what}: no sample rate to try")

