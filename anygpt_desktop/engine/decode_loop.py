"""The LLM decode loop: token by token, grammar-constrained, streaming, cancellable, with a KV cache across turns.

Unlike the reference (one blocking ``generate`` to the token limit, spec §3.3) this loop
* streams every id as soon as it is chosen, so speech can be synthesised while the model is still talking;
* switches sampling parameters when a span starts (the reference decoding configs, per modality);
* stops at the end of the turn (``<eos>``, ``</s>``, ``<eom>``) instead of running to the limit;
* only lets the model produce well-formed output: outside spans no unit tokens and no role markers; inside a span only
  that modality's units and, when allowed, its end tag; an image span is exactly 32 units; a music span keeps the
  codebook phase (position k holds codebook k mod 4) and ends on a whole frame;
* opens the requested output span itself when the model would otherwise end the turn without it (the reference's
  ``force_*_generation``), so even a weak or random model yields a playable reply;
* keeps the KV cache of the conversation and only computes the ids that differ from the cached prefix.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch

from anygpt_desktop.engine.llm import LoadedLLM
from anygpt_desktop.engine.sampling import SamplingParams, choose
from anygpt_desktop.engine.task_state import TaskState
from anygpt_desktop.protocol.units import IMAGE_UNITS_PER_IMAGE, MUSIC_CODEBOOK_SIZE, MUSIC_CODEBOOKS
from anygpt_desktop.protocol.vocab import EOS_ID, EXPECTED_IDS, SPAN_IDS, UNIT_BASE_ID, UNIT_COUNT

logger = logging.getLogger(__name__)


def _cache_argument_name() -> str:
    """transformers 5 calls the KV cache ``cache``; 4.x called it ``past_key_values``."""
    import inspect

    from transformers import LlamaForCausalLM

    return "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


_CACHE_ARG = _cache_argument_name()

END_OF_TURN_IDS = (EXPECTED_IDS["<eos>"], EXPECTED_IDS["<eom>"], EOS_ID)
CHAT_END_ID = EXPECTED_IDS["<eos>"]
OUTPUT_SPANS = ("image", "speech", "music")


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
    force_modality: str | None = None  # open this span if the model would end without it
    end_after_forced_span: bool = False  # base tasks: the turn is the span
    open_immediately: bool = False  # base tasks: the reply starts with the span (no text first)
    seed: int | None = None
    text_beams: int = 1  # >1: the reference's beam sampling for text-only replies (no streaming: ids come at the end)


@dataclass
class DecodeStats:
    new_tokens: int = 0
    computed_tokens: int = 0  # prompt ids not served by the cache + generated ids
    cached_tokens: int = 0
    seconds: float = 0.0
    prefill_seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else 0.0


class _Grammar:
    """Which ids may come next, given what has been generated in this turn."""

    def __init__(self, vocab_size: int, device: torch.device, settings: DecodeSettings) -> None:
        self.settings = settings
        self.vocab_size = vocab_size
        v = vocab_size

        def mask(ids: Sequence[int] = (), ranges: Sequence[tuple[int, int]] = ()) -> torch.Tensor:
            m = torch.zeros(v, dtype=torch.bool)
            for i in ids:
                if i < v:
                    m[i] = True
            for a, b in ranges:
                m[a:min(b, v)] = True
            return m.to(device)

        starts = [SPAN_IDS[m][0] for m in OUTPUT_SPANS]
        text_like = [EXPECTED_IDS["<-Ins->"], EXPECTED_IDS["<-Res->"]]
        self.text = mask([*END_OF_TURN_IDS, *starts, *text_like], ranges=[(3, 32000)])
        self.text_no_end = mask([*starts, *text_like], ranges=[(3, 32000)])
        self.units = {m: mask(ranges=[(UNIT_BASE_ID[m], UNIT_BASE_ID[m] + UNIT_COUNT[m])]) for m in OUTPUT_SPANS}
        self.music_phase = [
            mask(ranges=[(UNIT_BASE_ID["music"] + MUSIC_CODEBOOK_SIZE * k, UNIT_BASE_ID["music"] + MUSIC_CODEBOOK_SIZE * (k + 1))])
            for k in range(MUSIC_CODEBOOKS)
        ]
        self.span: str | None = None
        self.span_len = 0
        self.text_len = 0
        self.spans_done: list[str] = []
        self.forced_done = False

    def forced_next(self) -> int | None:
        """An id the grammar imposes without sampling (a span start, a full span's end, the end of the turn)."""
        s = self.settings
        if self.span is None:
            if s.force_modality and not self.forced_done:
                if s.open_immediately or self.text_len >= min(s.max_text_tokens, s.max_text_before_span):
                    return SPAN_IDS[s.force_modality][0]
            elif s.end_after_forced_span and self.forced_done:
                return CHAT_END_ID
            if self.text_len >= s.max_text_tokens:
                return CHAT_END_ID
            return None
        end_id = SPAN_IDS[self.span][1]
        if self.span == "image" and self.span_len >= IMAGE_UNITS_PER_IMAGE:
            return end_id
        if self.span == "speech" and self.span_len >= s.max_speech_units:
            return end_id
        if self.span == "music" and self.span_len >= s.max_music_units - (s.max_music_units % MUSIC_CODEBOOKS):
            return end_id
        return None

    def allowed(self) -> torch.Tensor:
        if self.span is None:
            wants_span = self.settings.force_modality and not self.forced_done
            return self.text_no_end if wants_span else self.text
        end_id = SPAN_IDS[self.span][1]
        if self.span == "image":
            return self.units["image"]  # exactly 32: the end tag is forced afterwards
        if self.span == "music":
            m = self.music_phase[self.span_len % MUSIC_CODEBOOKS].clone()
            if self.span_len and self.span_len % MUSIC_CODEBOOKS == 0:
                m[end_id] = True
            return m
        m = self.units[self.span].clone()
        if self.span_len >= max(1, self.settings.min_speech_units):
            m[end_id] = True
        return m

    def params(self) -> SamplingParams:
        return getattr(self.settings, self.span) if self.span else self.settings.text

    def advance(self, token_id: int) -> bool:
        """Record an id; True when the turn has ended."""
        if self.span is None:
            for modality in OUTPUT_SPANS:
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


class DecodeLoop:
    """Owns the KV cache of one conversation; ``run`` streams the ids of one assistant turn."""

    def __init__(self, llm: LoadedLLM) -> None:
        self.llm = llm
        self._cache = None
        self._cached_ids: list[int] = []
        self.last_stats = DecodeStats()

    def reset(self) -> None:
        """Forget the KV cache (history cleared or restored)."""
        self._cache = None
        self._cached_ids = []

    def _prefill(self, prompt_ids: list[int]) -> torch.Tensor:
        """Logits after the prompt, reusing the cached prefix."""
        from transformers import DynamicCache

        common = 0
        for a, b in zip(self._cached_ids, prompt_ids):
            if a != b:
                break
            common += 1
        common = min(common, len(prompt_ids) - 1)  # always compute at least the last prompt id
        if self._cache is None or common == 0:
            self._cache = DynamicCache()
            common = 0
        else:
            extra = self._cache.get_seq_length() - common
            if extra > 0:
                self._cache.crop(-extra)
        self.last_stats.cached_tokens = common
        new = prompt_ids[common:]
        self.last_stats.computed_tokens += len(new)
        self._cached_ids = []
        try:
            logits = self._forward(new)
        except BaseException:
            self.reset()
            raise
        self._cached_ids = list(prompt_ids)
        return logits

    @torch.inference_mode()
    def _forward(self, ids: Sequence[int]) -> torch.Tensor:
        x = torch.tensor([list(ids)], dtype=torch.long, device=self.llm.device)
        out = self.llm.model(input_ids=x, **{_CACHE_ARG: self._cache}, use_cache=True, logits_to_keep=1)
        self._cache = getattr(out, _CACHE_ARG)
        return out.logits[0, -1]

    def run(
        self,
        prompt_ids: list[int],
        settings: DecodeSettings,
        state: TaskState | None = None,
        forced_ids: Sequence[int] | None = None,
    ) -> Iterator[int]:
        """Stream the ids of one turn. ``forced_ids`` (tests, benchmarks) replaces sampling with given ids, still
        running the model on them and still enforcing the grammar on what it is given."""
        self.last_stats = DecodeStats()
        if settings.text_beams > 1 and settings.force_modality is None and forced_ids is None:
            yield from self._run_beams(prompt_ids, settings, state)
            return
        start = time.perf_counter()
        generator = None
        if settings.seed is not None:
            generator = torch.Generator(device=self.llm.device).manual_seed(settings.seed)
        grammar = _Grammar(self.llm.vocab_size, self.llm.device, settings)
        seen = torch.zeros(self.llm.vocab_size, dtype=torch.bool, device=self.llm.device)
        seen[torch.tensor(prompt_ids, device=self.llm.device)] = True
        logits = self._prefill(prompt_ids)
        self.last_stats.prefill_seconds = time.perf_counter() - start
        forced = list(forced_ids) if forced_ids is not None else []
        for _ in range(settings.max_new_tokens):
            if state is not None and state.cancelled():
                break
            token = grammar.forced_next()
            if forced_ids is not None:
                if not forced and token is None:
                    break  # the script ended: like hitting the token limit
                wanted = forced[0] if forced else -1
                if token is None or token == wanted:  # a grammar-imposed id that the script also has is consumed
                    token = wanted
                    if forced:
                        forced.pop(0)
                if not bool(grammar.allowed()[token]) and token != grammar.forced_next():
                    raise ValueError(f"forced id {token} is not allowed by the output grammar here")
            elif token is None:
                token = choose(logits, grammar.params(), grammar.allowed(), seen, generator)
            seen[token] = True
            self.last_stats.new_tokens += 1
            ended = grammar.advance(token)
            yield token
            if ended:
                break
            try:
                logits = self._forward([token])
            except BaseException:
                self.reset()  # a half-updated cache must not serve the next turn
                raise
            self._cached_ids.append(token)  # only ids whose keys/values are in the cache
            self.last_stats.computed_tokens += 1
        self.last_stats.seconds = time.perf_counter() - start
        # the cache now also holds this turn's ids; the next prompt re-renders the reply, so only the prefix is reused

    def _run_beams(self, prompt_ids: list[int], settings: DecodeSettings, state: TaskState | None) -> Iterator[int]:
        """The reference chat config's beam sampling (5 beams, top-k 50) for a text reply, through HF ``generate``.

        Only text and the end tags may be chosen (a beam cannot open a unit span here); nothing streams until the
        best beam is known. The loop's own KV cache is dropped (``generate`` keeps its own).
        """
        from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

        start = time.perf_counter()
        allowed = _Grammar(self.llm.vocab_size, self.llm.device, settings).text.clone()
        for modality in OUTPUT_SPANS:
            allowed[SPAN_IDS[modality][0]] = False

        class _TextOnly(LogitsProcessor):
            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
                return scores.masked_fill(~allowed, float("-inf"))

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: object) -> torch.Tensor:
                stop = state is not None and state.cancelled()
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

        if settings.seed is not None:
            torch.manual_seed(settings.seed)
        p = settings.text
        x = torch.tensor([prompt_ids], dtype=torch.long, device=self.llm.device)
        with torch.inference_mode():
            out = self.llm.model.generate(
                input_ids=x,
                attention_mask=torch.ones_like(x),
                num_beams=settings.text_beams,
                do_sample=p.do_sample,
                top_k=p.top_k,
                top_p=p.top_p,
                temperature=p.temperature,
                repetition_penalty=p.repetition_penalty,
                max_new_tokens=settings.max_text_tokens + 1,
                eos_token_id=list(END_OF_TURN_IDS),
                pad_token_id=0,
                logits_processor=LogitsProcessorList([_TextOnly()]),
                stopping_criteria=StoppingCriteriaList([_Cancel()]),
            )
        self.reset()
        new = [int(i) for i in out[0, len(prompt_ids):].tolist()]
        if any(i in END_OF_TURN_IDS for i in new):
            new = new[: next(k for k, i in enumerate(new) if i in END_OF_TURN_IDS) + 1]
        self.last_stats.new_tokens = len(new)
        self.last_stats.computed_tokens = len(prompt_ids) + len(new)
        self.last_stats.seconds = time.perf_counter() - start
        yield from new
