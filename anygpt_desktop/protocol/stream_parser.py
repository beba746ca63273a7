"""An incremental parser over the ids the model generates for one assistant turn.

Feed ids one at a time (as they stream out of the decode loop); get typed events back: transcript text (after
``<-Ins->``), reply text (after ``<-Res->`` or plain), unit spans streamed unit by unit, and the end of the turn.
Malformed streams produce :class:`Diagnostic` events instead of silent garbage.

Deliberate differences from the reference's text-level extraction (reference-behaviour §3.4, kept in
:mod:`reference_compat` for verification):
* only the ids of this turn are parsed (the reference scanned the whole decoded history for the output modality);
* inside a span, only that modality's units count; other tokens are reported and ignored (the reference took every
  digit run of the decoded span text as a unit);
* an image span must hold exactly 32 units and a music span whole, in-phase frames, else it is reported invalid
  (the reference crashed, or silently re-read out-of-phase music units with ``% 2048``);
* every span is delivered, not only the last one of each modality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

from anygpt_desktop.protocol.units import IMAGE_UNITS_PER_IMAGE, MUSIC_CODEBOOK_SIZE, MUSIC_CODEBOOKS
from anygpt_desktop.protocol.vocab import (
    EOS_ID,
    EXPECTED_IDS,
    INSTRUCTION_SEP,
    RESPONSE_SEP,
    SPAN_IDS,
    UNIT_BASE_ID,
    UNIT_COUNT,
)

EOT_MARKER = "<eot>"  # plain text the chat model writes between its text and its speech


class TextDecoder(Protocol):
    def decode_text_run(self, ids: Sequence[int]) -> str: ...


@dataclass(frozen=True)
class ParsedText:
    """Text the model wrote on one channel (the engine turns it into a TranscriptDelta or a TextDelta event)."""

    channel: str  # "transcript" (what the user said, after <-Ins->) or "reply"
    text: str


@dataclass(frozen=True)
class SpanStarted:
    modality: str


@dataclass(frozen=True)
class UnitsDelta:
    modality: str
    units: tuple[int, ...]


@dataclass(frozen=True)
class SpanFinished:
    modality: str
    units: tuple[int, ...]
    complete: bool  # closed by its end tag
    valid: bool  # usable as media (e.g. 32 image units, whole in-phase music frames)


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str


@dataclass(frozen=True)
class TurnEnded:
    reason: str  # "eos" (<eos>), "eom" (<eom>), "end_of_text" (</s>), "new_turn" ([Human]/[MMGPT]), "stream_end"


Event = ParsedText | SpanStarted | UnitsDelta | SpanFinished | Diagnostic | TurnEnded

_START_TO_MODALITY = {start: m for m, (start, _end) in SPAN_IDS.items()}
_END_TO_MODALITY = {end: m for m, (_start, end) in SPAN_IDS.items()}
_END_OF_TURN = {
    EXPECTED_IDS["<eos>"]: "eos",
    EXPECTED_IDS["<eom>"]: "eom",
    EOS_ID: "end_of_text",
    EXPECTED_IDS["[Human]"]: "new_turn",
    EXPECTED_IDS["[MMGPT]"]: "new_turn",
    EXPECTED_IDS["[AnyGPT]"]: "new_turn",
}
_INS_ID = EXPECTED_IDS[INSTRUCTION_SEP]
_RES_ID = EXPECTED_IDS[RESPONSE_SEP]
_FIRST_ADDED = 32000


def unit_value(token_id: int) -> tuple[str, int] | None:
    """``(modality, unit)`` for a unit token id, else None."""
    for modality, base in UNIT_BASE_ID.items():
        if base <= token_id < base + UNIT_COUNT[modality]:
            return modality, token_id - base
    return None


def span_problem(modality: str, units: Sequence[int]) -> str | None:
    """Why a finished span cannot become media, or None."""
    if not units:
        return f"empty {modality} span"
    if modality == "image" and len(units) != IMAGE_UNITS_PER_IMAGE:
        return f"image span has {len(units)} units, an image needs exactly {IMAGE_UNITS_PER_IMAGE}"
    if modality == "music":
        if len(units) % MUSIC_CODEBOOKS:
            return f"music span has {len(units)} units, not whole frames of {MUSIC_CODEBOOKS}"
        for i, v in enumerate(units):
            layer = i % MUSIC_CODEBOOKS
            if not MUSIC_CODEBOOK_SIZE * layer <= v < MUSIC_CODEBOOK_SIZE * (layer + 1):
                return f"music unit {i} (value {v}) is out of phase: position {i} belongs to codebook {layer}"
    return None


@dataclass
class _TextRun:
    channel: str
    ids: list[int] = field(default_factory=list)
    emitted: str = ""  # decoded text already turned into deltas (before <eot> filtering)


class StreamParser:
    """Parses one assistant turn, id by id."""

    def __init__(self, decoder: TextDecoder) -> None:
        self._decoder = decoder
        self._channel = "reply"
        self._run: _TextRun | None = None
        self._span: str | None = None
        self._span_units: list[int] = []
        self._held = ""  # text held back because it may be the start of "<eot>"
        self._channel_text: dict[str, str] = {"transcript": "", "reply": ""}
        self._run_boundary: set[str] = set()  # channels whose next text follows a span or marker
        self.ended: str | None = None
        self.spans: list[SpanFinished] = []
        self.diagnostics: list[Diagnostic] = []

    # -- public -----------------------------------------------------------------------------------------------
    def feed(self, token_id: int) -> list[Event]:
        """Events caused by one more generated id (nothing after the turn has ended)."""
        events: list[Event] = []
        if self.ended is not None:
            if not any(d.code == "after_end" for d in self.diagnostics):
                self._diag(events, "after_end", f"tokens after the end of the turn ignored (first: {token_id})")
            return events
        if self._span is not None:
            self._feed_in_span(token_id, events)
            return events
        if token_id in _END_OF_TURN:
            self._end_text(events)
            self.ended = _END_OF_TURN[token_id]
            if self.ended == "new_turn":
                self._diag(events, "new_turn", "the model began a new conversation turn; the reply ends here")
            events.append(TurnEnded(self.ended))
        elif token_id in _START_TO_MODALITY:
            self._end_text(events)
            self._span = _START_TO_MODALITY[token_id]
            self._span_units = []
            events.append(SpanStarted(self._span))
        elif token_id == _INS_ID or token_id == _RES_ID:
            self._end_text(events)
            self._channel = "transcript" if token_id == _INS_ID else "reply"
        elif token_id in _END_TO_MODALITY:
            self._diag(events, "stray_end_tag", f"end of {_END_TO_MODALITY[token_id]} span without a start: ignored")
        elif token_id >= _FIRST_ADDED:
            unit = unit_value(token_id)
            what = f"{unit[0]} unit outside a span" if unit else f"control token {token_id} in text"
            self._diag(events, "stray_token", f"{what}: ignored")
        else:
            self._feed_text(token_id, events)
        return events

    def feed_many(self, ids: Sequence[int]) -> list[Event]:
        events: list[Event] = []
        for i in ids:
            events.extend(self.feed(i))
        return events

    def finish(self) -> list[Event]:
        """Close the turn when the id stream stops (token limit or cancel): report what was left open."""
        events: list[Event] = []
        if self.ended is not None:
            return events
        if self._span is not None:
            modality = self._span
            self._diag(events, "unclosed_span", f"{modality} span not closed: {len(self._span_units)} units kept")
            self._close_span(events, complete=False)
        self._end_text(events, final=True)
        self._diag(events, "no_end_of_turn", "the reply stopped without an end-of-turn token")
        self.ended = "stream_end"
        events.append(TurnEnded("stream_end"))
        return events

    def text(self, channel: str = "reply") -> str:
        """All text of a channel so far, without ``<eot>`` markers, stripped."""
        return self._channel_text[channel].strip()

    # -- internals --------------------------------------------------------------------------------------------
    def _diag(self, events: list[Event], code: str, message: str) -> None:
        d = Diagnostic(code, message)
        self.diagnostics.append(d)
        events.append(d)

    def _feed_in_span(self, token_id: int, events: list[Event]) -> None:
        modality = self._span
        assert modality is not None
        unit = unit_value(token_id)
        if unit is not None and unit[0] == modality:
            self._span_units.append(unit[1])
            events.append(UnitsDelta(modality, (unit[1],)))
        elif token_id == SPAN_IDS[modality][1]:
            self._close_span(events, complete=True)
        elif token_id in _END_OF_TURN or token_id in _START_TO_MODALITY:
            self._diag(events, "unclosed_span", f"{modality} span not closed before token {token_id}")
            self._close_span(events, complete=False)
            events.extend(self.feed(token_id))
        else:
            self._diag(events, "foreign_token_in_span", f"token {token_id} inside a {modality} span ignored")

    def _close_span(self, events: list[Event], complete: bool) -> None:
        modality = self._span
        assert modality is not None
        units = tuple(self._span_units)
        problem = span_problem(modality, units)
        if problem:
            self._diag(events, "invalid_span", problem)
        span = SpanFinished(modality, units, complete=complete, valid=problem is None)
        self.spans.append(span)
        events.append(span)
        self._span = None
        self._span_units = []

    def _feed_text(self, token_id: int, events: list[Event]) -> None:
        if self._run is None:
            self._run = _TextRun(self._channel)
        self._run.ids.append(token_id)
        decoded = self._decoder.decode_text_run(self._run.ids)
        if decoded.endswith("\ufffd"):
            return  # an incomplete UTF-8 sequence of byte pieces: wait for the rest
        self._emit(events, decoded[len(self._run.emitted) :])
        self._run.emitted = decoded

    def _end_text(self, events: list[Event], final: bool = False) -> None:
        if self._run is not None:
            decoded = self._decoder.decode_text_run(self._run.ids)
            self._emit(events, decoded[len(self._run.emitted) :])
            self._run_boundary.add(self._run.channel)
            self._run = None
        # a run boundary ends any possible "<eot>" prefix: flush what was held back
        if self._held:
            self._publish(events, self._held)
            self._held = ""

    def _emit(self, events: list[Event], new: str) -> None:
        """Pass text through, removing "<eot>" markers even when they arrive split over several pieces."""
        if not new:
            return
        text = (self._held + new).replace(EOT_MARKER, "")
        self._held = ""
        for k in range(min(len(EOT_MARKER) - 1, len(text)), 0, -1):
            if EOT_MARKER.startswith(text[-k:]):
                self._held, text = text[-k:], text[:-k]
                break
        self._publish(events, text)

    def _publish(self, events: list[Event], text: str) -> None:
        if not text:
            return
        channel = self._run.channel if self._run is not None else self._channel
        if not self._channel_text[channel] and not text.strip():
            return  # no leading whitespace-only deltas
        existing = self._channel_text[channel]
        if not existing:
            text = text.lstrip()
        elif channel in self._run_boundary and not existing[-1].isspace() and not text[0].isspace():
            text = " " + text  # the reference's decode joins runs with a space
        self._run_boundary.discard(channel)
        self._channel_text[channel] += text
        events.append(ParsedText(channel, text))
