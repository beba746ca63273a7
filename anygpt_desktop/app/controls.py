"""One state machine for the composer: what the assistant is doing, and which controls are enabled because of it.

Every control's enabled state is derived here from a few facts (model state, turns pending, sound playing, microphone
recording, hands-free on, speech heard) so no control can be left stuck by a path that forgot to update it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from anygpt_desktop.session.kinds import ModelState


class Phase(str, Enum):
    """What the microphone control shows."""

    LOADING = "loading"  # the models are loading
    NO_MODELS = "no_models"  # the models could not be loaded
    IDLE = "idle"  # ready; press to talk
    LISTENING = "listening"  # hands-free: the microphone is open and waits for speech
    HEARING = "hearing"  # the key is down, or hands-free heard speech: the user is talking
    THINKING = "thinking"  # a turn is being generated
    SPEAKING = "speaking"  # a reply (or a recording) is playing


@dataclass(frozen=True)
class Facts:
    model_state: ModelState
    busy: bool = False
    playing: bool = False
    recording: bool = False
    hands_free: bool = False
    hearing: bool = False


@dataclass(frozen=True)
class Controls:
    phase: Phase
    send: bool
    mic: bool
    hands_free: bool
    talk_mode: bool
    stop: bool


def derive(f: Facts) -> Controls:
    """The composer's state for these facts. The message box and Attach stay enabled always: typing is never lost."""
    ready = f.model_state is ModelState.READY
    if f.model_state in (ModelState.STARTING, ModelState.LOADING):
        phase = Phase.LOADING
    elif not ready:
        phase = Phase.NO_MODELS
    elif f.hearing or (f.recording and not f.hands_free):
        phase = Phase.HEARING
    elif f.playing:
        phase = Phase.SPEAKING
    elif f.busy:
        phase = Phase.THINKING
    elif f.hands_free:
        phase = Phase.LISTENING
    else:
        phase = Phase.IDLE
    return Controls(
        phase=phase,
        send=ready,
        mic=ready and not f.hands_free,  # hands-free listens by itself
        hands_free=ready,
        talk_mode=not f.hands_free and not f.recording,
        stop=f.busy or f.playing or (f.recording and not f.hands_free),
    )
