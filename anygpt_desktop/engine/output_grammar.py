"""The reply's output grammar as a logit filter with a plain tensor interface.

State → either a forced id (:meth:`OutputGrammar.forced_id`) or a bool ``[V]`` mask of the ids that may come next
(:meth:`OutputGrammar.allowed_mask`); :meth:`OutputGrammar.advance` records the id that was chosen. Only ids and
tensors cross this interface, so the eager loop, a compiled static-cache step and a vLLM logits processor can each
drive it. Every mask is built once, on the device, when the grammar is created; a step allocates nothing.

The rules: outside spans no unit tokens and no role markers; inside a span only that modality's units and, when
allowed, its end tag; an image span is exactly 32 units; a music span keeps the codebook phase (position k holds
codebook k mod 4) and ends on a whole frame; a spoken reply has a minimum length; a requested span is opened by the
grammar when the model would otherwise end the turn without it (the reference's ``force_*_generation``).
"""

from __future__ import annotations

from typing import Sequence

import torch

from anygpt_desktop.engine.decode_settings import DecodeSettings
from anygpt_desktop.protocol.kinds import OUTPUT_MODALITIES, OutputModality
from anygpt_desktop.protocol.units import IMAGE_UNITS_PER_IMAGE, MUSIC_CODEBOOK_SIZE, MUSIC_CODEBOOKS
from anygpt_desktop.protocol.vocab import (
    END_OF_MMGPT_ID,
    END_OF_TURN_IDS,
    INSTRUCTION_SEP_ID,
    RESPONSE_SEP_ID,
    SPAN_IDS,
    TEXT_ID_RANGE,
    UNIT_BASE_ID,
    UNIT_COUNT,
)


def id_mask(
    vocab_size: int, device: torch.device | str, ids: Sequence[int] = (), ranges: Sequence[tuple[int, int]] = ()
) -> torch.Tensor:
    """A bool ``[vocab_size]`` mask on ``device`` with ``ids`` and the half-open ``ranges`` set (ids past the
    vocabulary are ignored: a small model may lack the later groups)."""
    m = torch.zeros(vocab_size, dtype=torch.bool)
    for i in ids:
        if i < vocab_size:
            m[i] = True
    for a, b in ranges:
        m[a:min(b, vocab_size)] = True
    return m.to(device)


class OutputGrammar:
    """Which ids may come next, given the ids chosen so far in this turn."""

    def __init__(self, vocab_size: int, device: torch.device | str, settings: DecodeSettings) -> None:
        self.settings = settings
        self.vocab_size = vocab_size

        def mask(ids: Sequence[int] = (), ranges: Sequence[tuple[int, int]] = ()) -> torch.Tensor:
            return id_mask(vocab_size, device, ids, ranges)

        starts = [SPAN_IDS[m][0] for m in OUTPUT_MODALITIES]
        text_like = [INSTRUCTION_SEP_ID, RESPONSE_SEP_ID]
        self.text_mask = mask([*END_OF_TURN_IDS, *starts, *text_like], ranges=[TEXT_ID_RANGE])
        self._text_no_end = mask([*starts, *text_like], ranges=[TEXT_ID_RANGE])
        self._units = {m: mask(ranges=[(UNIT_BASE_ID[m], UNIT_BASE_ID[m] + UNIT_COUNT[m])]) for m in OUTPUT_MODALITIES}
        self._units_or_end = {m: self._units[m] | mask([SPAN_IDS[m][1]]) for m in OUTPUT_MODALITIES}
        music = UNIT_BASE_ID["music"]
        self._music_phase = [
            mask(ranges=[(music + MUSIC_CODEBOOK_SIZE * k, music + MUSIC_CODEBOOK_SIZE * (k + 1))])
            for k in range(MUSIC_CODEBOOKS)
        ]
        self._music_frame_or_end = self._music_phase[0] | mask([SPAN_IDS["music"][1]])
        self.span: OutputModality | None = None
        self.span_len = 0
        self.text_len = 0
        self.spans_done: list[OutputModality] = []
        self.forced_done = False

    def text_only_mask(self) -> torch.Tensor:
        """Text and the end-of-turn ids, no span start (beam sampling cannot open a unit span)."""
        m = self.text_mask.clone()
        for modality in OUTPUT_MODALITIES:
            if SPAN_IDS[modality][0] < self.vocab_size:
                m[SPAN_IDS[modality][0]] = False
        return m

    def forced_id(self) -> int | None:
        """An id the grammar imposes without sampling (a span start, a full span's end, the end of the turn)."""
        s = self.settings
        if self.span is None:
            if s.force_modality and not self.forced_done:
                if s.open_immediately or self.text_len >= min(s.max_text_tokens, s.max_text_before_span):
                    return SPAN_IDS[s.force_modality][0]
            elif s.end_after_forced_span and self.forced_done:
                return END_OF_MMGPT_ID
            if self.text_len >= s.max_text_tokens:
                return END_OF_MMGPT_ID
            return None
        end_id = SPAN_IDS[self.span][1]
        if self.span == "image" and self.span_len >= IMAGE_UNITS_PER_IMAGE:
            return end_id
        if self.span == "speech" and self.span_len >= s.max_speech_units:
            return end_id
        if self.span == "music" and self.span_len >= s.max_music_units - (s.max_music_units % MUSIC_CODEBOOKS):
            return end_id
        return None

    def allowed_mask(self) -> torch.Tensor:
        """The ids that may be sampled now, as a bool ``[V]`` tensor on the device (shared: never modify it)."""
        if self.span is None:
            wants_span = self.settings.force_modality and not self.forced_done
            return self._text_no_end if wants_span else self.text_mask
        if self.span == "image":
            return self._units["image"]  # exactly 32: the end tag is forced afterwards
        if self.span == "music":
            if self.span_len and self.span_len % MUSIC_CODEBOOKS == 0:
                return self._music_frame_or_end
            return self._music_phase[self.span_len % MUSIC_CODEBOOKS]
        if self.span_len >= max(1, self.settings.min_speech_units):
            return self._units_or_end[self.span]
        return self._units[self.span]

    def allows(self, token_id: int) -> bool:
        """True when ``token_id`` may come next (forced or allowed); a host check, for scripted ids."""
        return token_id == self.forced_id() or (0 <= token_id < self.vocab_size and bool(self.allowed_mask()[token_id]))

    def advance(self, token_id: int) -> bool:
        """Record the chosen id; True when the turn has ended."""
        if self.span is None:
            for modality in OUTPUT_MODALITIES:
                if token_id == SPAN_IDS[modality][0]:
                    self.span, self.span_len = modality, 0
                    return False
            if token_id in END_OF_TURN_IDS:
                return True
            self.text_len += 1
            return False
        if token_id == SPAN_IDS[self.span][1]:
            self.spans_done.append(self.span)
            if self.span == self.settings.force_modality:
                self.forced_done = True
            self.span = None
        else:
            self.span_len += 1
        return False
