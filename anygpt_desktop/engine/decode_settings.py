"""What one turn's decoding may do: sampling per span and the limits the output grammar enforces.

Plain dataclasses without torch, so the settings window can read their defaults without loading the engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from anygpt_desktop.protocol.decoding import effective_config
from anygpt_desktop.protocol.kinds import OutputModality


@dataclass(frozen=True)
class SamplingParams:
    do_sample: bool = True
    temperature: float = 1.0
    top_k: int = 50
    top_p: float = 1.0
    repetition_penalty: float = 1.0

    @classmethod
    def from_reference(cls, config_name: str) -> "SamplingParams":
        """The values the reference ran with for a config file (e.g. top-k 50 where the file names none)."""
        c = effective_config(config_name)
        return cls(
            do_sample=bool(c["do_sample"]),
            temperature=float(c["temperature"]),
            top_k=int(c["top_k"] or 0),
            top_p=float(c["top_p"]),
            repetition_penalty=float(c["repetition_penalty"] or 1.0),
        )


@dataclass
class DecodeSettings:
    """Sampling per modality and the limits of one turn."""

    text: SamplingParams = field(default_factory=lambda: SamplingParams.from_reference("text"))
    speech: SamplingParams = field(default_factory=lambda: SamplingParams.from_reference("speech"))
    image: SamplingParams = field(default_factory=lambda: SamplingParams.from_reference("image"))
    music: SamplingParams = field(default_factory=lambda: SamplingParams.from_reference("music"))
    max_text_tokens: int = 500
    max_text_before_span: int = 120  # a requested span opens after this much text (spoken replies lead with ~30 tokens)
    max_speech_units: int = 1500  # 30 s at 50 Hz (the reference's speech limit)
    min_speech_units: int = 25  # a spoken reply lasts at least 0.5 s (a weak model may close the span at once)
    max_music_units: int = 2000  # 10 s (500 frames), the reference's music limit
    max_new_tokens: int = 4000
    force_modality: OutputModality | None = None  # open this span if the model would end without it
    end_after_forced_span: bool = False  # base tasks: the turn is the span
    open_immediately: bool = False  # base tasks: the reply starts with the span (no text first)
    seed: int | None = None
    text_beams: int = 1  # >1: the reference's beam sampling for text-only replies (no streaming: ids come at the end)

    def params_for(self, span: OutputModality | None) -> SamplingParams:
        """The sampling of the span being generated (``None``: text)."""
        return getattr(self, span) if span else self.text
