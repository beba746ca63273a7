"""The reference chat config's beam sampling (5 beams, top-k 50) for a text reply, through HF ``generate``.

A whole-turn strategy: only text and the end tags may be chosen (a beam cannot open a unit span), and nothing streams
until the best beam is known. ``generate`` keeps its own KV cache.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch

from anygpt_desktop.cancel import CancelToken
from anygpt_desktop.engine.decode_settings import DecodeSettings
from anygpt_desktop.engine.output_grammar import OutputGrammar
from anygpt_desktop.protocol.vocab import END_OF_TURN_IDS, UNK_ID

if TYPE_CHECKING:
    from anygpt_desktop.engine.llm import LoadedLLM


def beam_sample(llm: LoadedLLM, prompt_ids: Sequence[int], settings: DecodeSettings, state: CancelToken | None) -> list[int]:
    """The ids of the best beam, cut after the first end-of-turn id."""
    from transformers import LogitsProcessor, LogitsProcessorList, StoppingCriteria, StoppingCriteriaList

    allowed = OutputGrammar(llm.vocab_size, llm.device, settings).text_only_mask()

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
    x = torch.tensor([list(prompt_ids)], dtype=torch.long, device=llm.device)
    with torch.inference_mode():
        out = llm.model.generate(
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
            pad_token_id=UNK_ID,
            logits_processor=LogitsProcessorList([_TextOnly()]),
            stopping_criteria=StoppingCriteriaList([_Cancel()]),
        )
    new = [int(i) for i in out[0, len(prompt_ids):].tolist()]
    if any(i in END_OF_TURN_IDS for i in new):
        new = new[: next(k for k, i in enumerate(new) if i in END_OF_TURN_IDS) + 1]
    return new
