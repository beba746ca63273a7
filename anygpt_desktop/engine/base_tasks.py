"""The base model's tasks through the same engine: text→image, image→text, text→speech (default or cloned voice),
speech→text, text→music, music→text (reference-behaviour §2.2).

Differences from the reference, on purpose: the span is opened by the loop itself for text→x tasks and the turn ends
when it closes (the reference sampled to the token limit and searched the decoded text), the instruction choice is
seedable, and music input is a 5 s crop from the start (the reference took 20 s at a random offset, which is out of the
training distribution, reference-behaviour §10.7).
"""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path
from typing import Iterator, Sequence

from anygpt_desktop.engine.assistant import Assistant, GenerationJob, InputError, user_facing_errors
from anygpt_desktop.engine.decode_loop import DecodeSettings
from anygpt_desktop.engine.events import Event, TurnDone, TurnFailed
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine.sampling import SamplingParams
from anygpt_desktop.cancel import CancelToken, TaskState
from anygpt_desktop.path_checks import path_problem
from anygpt_desktop.protocol.cli_grammar import BaseLine
from anygpt_desktop.protocol.decoding import effective_config
from anygpt_desktop.protocol.instructions import choose_instruction
from anygpt_desktop.protocol.prompts import base_prompt
from anygpt_desktop.protocol.text_tokenizer import UserText
from anygpt_desktop.protocol.units import music_codes_to_units, units_to_string


def base_settings(line: BaseLine, seed: int | None) -> DecodeSettings:
    """Decoding for a base task: the reference config of the target modality, the span opened at once."""
    text = SamplingParams.from_reference("text")
    if line.to_modality == "text":
        return DecodeSettings(text=text, max_text_tokens=effective_config("text")["max_new_tokens"], seed=seed)
    return DecodeSettings(
        text=text,
        force_modality=line.to_modality,
        open_immediately=True,
        end_after_forced_span=True,
        seed=seed,
    )


def capped(settings: DecodeSettings, max_tokens: int) -> DecodeSettings:
    """``settings`` with every length limit at most ``max_tokens`` (the CLIs' ``--max-tokens``)."""
    n = max(1, int(max_tokens))
    max_speech = min(settings.max_speech_units, n)
    return dataclasses.replace(
        settings,
        max_new_tokens=min(settings.max_new_tokens, n),
        max_text_tokens=min(settings.max_text_tokens, n),
        max_text_before_span=min(settings.max_text_before_span, n),
        max_speech_units=max_speech,
        min_speech_units=min(settings.min_speech_units, max_speech),
        max_music_units=min(settings.max_music_units, n),
    )


def _input_units(assistant: Assistant, line: BaseLine) -> str:
    what = {"image": "image file", "speech": "audio file", "music": "music file"}[line.modality]
    problem = path_problem(line.data, what)
    if problem is not None:
        raise InputError(problem)
    path = Path(line.data)
    if line.modality == "image":
        return units_to_string("image", assistant.image_units(path))
    if line.modality == "speech":
        return units_to_string("speech", assistant.speech_file_units(path))
    return units_to_string("music", music_codes_to_units(assistant.music_codes(path)))


def run_base_task(
    assistant: Assistant,
    line: BaseLine,
    state: CancelToken | None = None,
    rng: random.Random | None = None,
    forced_ids: Sequence[int] | None = None,
    instruction_index: int | None = None,
) -> Iterator[Event]:
    """One base-model task, as events (the same events as a chat turn)."""
    state = state or TaskState()
    if assistant.llm is None:
        yield TurnFailed("the models are not loaded yet")
        return
    start = time.perf_counter()
    try:
        if line.modality == "text":
            if not line.data.strip():
                raise InputError("nothing to turn into " + line.to_modality)
            instruction = choose_instruction("text2other", line.to_modality, rng, instruction_index)
            segments = base_prompt("text", instruction, UserText(line.data))
        else:
            instruction = choose_instruction("other2text", line.modality, rng, instruction_index)
            segments = base_prompt(line.modality, instruction, _input_units(assistant, line))
    except user_facing_errors() as exc:
        yield TurnFailed(str(exc))
        return
    encoded = time.perf_counter() - start
    prompt_ids = assistant.llm.tokenizer.encode(segments)
    request = TurnRequest(text=line.data if line.modality == "text" else Path(line.data).stem,
                          voice_prompt=Path(line.voice_prompt) if line.voice_prompt else None)
    settings = base_settings(line, assistant.settings.seed)
    if assistant.settings.decode.max_new_tokens < settings.max_new_tokens:  # a cap the user set (--max-tokens)
        settings = capped(settings, assistant.settings.decode.max_new_tokens)
    job = GenerationJob(prompt_ids, settings, request, state, script=forced_ids, started=start)
    assistant.reset_cache()  # base tasks are independent prompts
    try:
        out = yield from assistant.generate(job)
    except user_facing_errors() as exc:
        yield TurnFailed(str(exc))
        return
    timings = {"encode_inputs": encoded, **out.timings, "total": time.perf_counter() - start}
    if state.cancelled():
        yield TurnFailed("stopped", cancelled=True)
        return
    yield TurnDone(out.text, out.transcript, timings, {"instruction": instruction})
