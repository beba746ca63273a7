"""The two halves of ``--llm-url`` together: the engine's client (``engine/vllm_client.py``) talks to a miniature vLLM
that runs the tiny LLM and applies the AnyGPT processor's batch logic to every step, as vLLM would with
``--logits-processors``. With greedy settings the served turn must give exactly the ids of the local decode loop;
sampled turns must give well-formed spans (exactly 32 image units, speech within its limits)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import pytest
import torch

from anygpt_desktop.cancel import TaskState
from anygpt_desktop.engine.assistant import Assistant, AssistantSettings
from anygpt_desktop.engine.decode_settings import DecodeSettings, SamplingParams
from anygpt_desktop.engine.events import TurnDone
from anygpt_desktop.engine.llm import load_llm
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.protocol.vocab import SPAN_IDS, UNIT_BASE_ID, UNIT_COUNT
from anygpt_desktop.vllm_plugin.batch import DecodingBatch
from sse_server import SseHandler, serve_in_thread

pytestmark = pytest.mark.slow


class MiniVllm:
    """``/v1/models`` and streaming ``/v1/completions`` over the tiny LLM: a full forward per step (no cache), the
    processor's rows, then vLLM's neutral sampling (softmax, one draw from the request's seeded generator)."""

    def __init__(self, model_folder: Path) -> None:
        self.llm = load_llm(model_folder, "cpu", "float32")
        self.bodies: list[dict] = []
        self.outputs: list[list[int]] = []  # the ids each request generated
        self.lock = threading.Lock()  # one request at a time through the model

    def generate(self, body: dict) -> Iterator[int]:
        assert (body["temperature"], body["top_p"], body["top_k"], body["repetition_penalty"]) == (1.0, 1.0, -1, 1.0)
        batch = DecodingBatch()
        prompt: list[int] = list(body["prompt"])
        output: list[int] = []
        self.outputs.append(output)
        batch.add(0, body["vllm_xargs"], prompt, output)
        generator = torch.Generator().manual_seed(int(body.get("seed") or 0))
        stop = set(body["stop_token_ids"])
        with self.lock, torch.no_grad():
            for _ in range(body["max_tokens"]):
                ids = torch.tensor([prompt + output])
                logits = self.llm.model(input_ids=ids).logits[:, -1, :].float()
                row = batch.apply(logits)[0]
                token = int(torch.multinomial(torch.softmax(row, -1), 1, generator=generator))
                output.append(token)
                yield token
                if token in stop:
                    return


def _handler(mini: MiniVllm) -> type[SseHandler]:
    class Handler(SseHandler):
        def do_GET(self) -> None:  # http.server naming
            self.send_json(200, {"object": "list", "data": [{"id": "anygpt-chat", "max_model_len": 4096}]})

        def do_POST(self) -> None:  # http.server naming
            body = self.read_json()
            mini.bodies.append(body)
            self.send_events({"choices": [{"index": 0, "text": "", "token_ids": [token], "finish_reason": None}]}
                             for token in mini.generate(body))

    return Handler


@pytest.fixture
def mini_vllm(tiny_models: Path) -> Iterator[tuple[MiniVllm, str]]:
    mini = MiniVllm(Assistant(tiny_models).paths.chat_llm)
    served = serve_in_thread(_handler(mini))
    yield mini, next(served)
    served.close()


GREEDY = SamplingParams(do_sample=False, repetition_penalty=1.2)


def _assistant(models: Path, out: Path, url: str | None, decode: DecodeSettings) -> Assistant:
    assistant = Assistant(models, settings=AssistantSettings(seed=0, device="cpu", dtype="float32", output_dir=out,
                                                             decode=decode, llm_url=url))
    assistant.load()
    return assistant


def _reply(assistant: Assistant, request: TurnRequest) -> str:
    """The stored reply of one turn (its text with every unit token)."""
    events = list(assistant.turn(request, TaskState()))
    assert isinstance(events[-1], TurnDone), events[-1]
    return assistant.conversation.messages[-1].text


def test_greedy_turns_through_vllm_equal_the_local_loop(mini_vllm: tuple[MiniVllm, str], tiny_models: Path,
                                                        tmp_path: Path) -> None:
    mini, url = mini_vllm
    decode = DecodeSettings(text=GREEDY, speech=GREEDY, image=GREEDY, music=GREEDY, max_text_tokens=6,
                            max_speech_units=30, min_speech_units=10, max_music_units=24)
    local = _assistant(tiny_models, tmp_path / "local", None, decode)
    served = _assistant(tiny_models, tmp_path / "served", url, decode)
    assert served.llm is not None and served.llm.model is None
    for request in (TurnRequest(text="say it aloud", output_modality="speech"),
                    TurnRequest(text="a follow-up in words"),
                    TurnRequest(text="paint it", output_modality="image")):
        here, there = _reply(local, request), _reply(served, request)
        assert there == here, request.text
    assert len(mini.bodies) == 3 and mini.bodies[-1]["prompt"][: len(mini.bodies[0]["prompt"])] == mini.bodies[0]["prompt"]


def test_sampled_turns_through_vllm_are_well_formed(mini_vllm: tuple[MiniVllm, str], tiny_models: Path,
                                                     tmp_path: Path) -> None:
    mini, url = mini_vllm
    decode = DecodeSettings(max_text_tokens=6, max_speech_units=30, min_speech_units=10, max_music_units=24, seed=7)
    served = _assistant(tiny_models, tmp_path / "served", url, decode)
    for modality, units in (("image", 32), ("speech", None), ("music", None)):
        _reply(served, TurnRequest(text=f"some {modality}", output_modality=modality))
        ids = mini.outputs[-1]  # what vLLM generated, drawn from the processor's rows
        start, end = SPAN_IDS[modality]
        assert start in ids and end in ids, modality
        span = ids[ids.index(start) + 1 : ids.index(end)]
        base, count = UNIT_BASE_ID[modality], UNIT_COUNT[modality]
        assert span and all(base <= i < base + count for i in span), modality
        if units is not None:
            assert len(span) == units
        if modality == "speech":
            assert 10 <= len(span) <= 30
        if modality == "music":
            assert len(span) % 4 == 0 and all((i - base) // (count // 4) == k % 4 for k, i in enumerate(span))
