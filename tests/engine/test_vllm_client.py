"""The engine's LLM on a vLLM server (``--llm-url``), against a fake vLLM: a real HTTP server on 127.0.0.1 that lists
its model and streams ``/v1/completions`` as server-sent events with ``token_ids`` per chunk, as vLLM >= 0.10.2 does."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest

from anygpt_desktop.cancel import TaskState
from anygpt_desktop.engine.assistant import Assistant, AssistantSettings
from anygpt_desktop.engine.decode_settings import DecodeSettings, SamplingParams
from anygpt_desktop.engine.decode_strategies import ScriptedIds
from anygpt_desktop.engine.events import Notice, SpeechChunk, SpeechReady, TextDelta, TurnDone, TurnFailed
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.engine.vllm_args import decode_settings_from_extra_args
from anygpt_desktop.engine.vllm_client import LlmServer, LlmServerError, VllmDecodeLoop
from anygpt_desktop.protocol.vocab import (
    BOS_ID,
    CHAT_VOCAB_SIZE,
    END_OF_MMGPT_ID,
    END_OF_TURN_IDS,
    HUMAN_ID,
    MMGPT_ID,
    SPAN_IDS,
    UNIT_BASE_ID,
    UNIT_COUNT,
)
from sse_server import SseHandler, serve_in_thread

SOSP, EOSP = SPAN_IDS["speech"]
TEXT_IDS = [450, 338, 263]  # plain LLaMA text pieces (3..32000)


def speech_span(n: int) -> list[int]:
    return [SOSP] + [UNIT_BASE_ID["speech"] + (7 * k) % UNIT_COUNT["speech"] for k in range(n)] + [EOSP]


# -- the fake vLLM server -----------------------------------------------------------------------------------------------

@dataclass
class FakeVllm:
    chunks: list[list[int]] = field(default_factory=list)  # token ids per streamed event
    endless: int | None = None  # stream this text id forever (until the client goes away)
    model: str = "AnyGPT-chat"
    max_model_len: int = 4096
    error: tuple[int, dict] | None = None  # answer /completions with this status and JSON body
    cached_tokens: int | None = 5  # usage.prompt_tokens_details.cached_tokens in the last event (None: no details)
    token_ids_field: bool = True  # False: an old vLLM that ignores return_token_ids
    gate: threading.Event | None = None  # hold the stream after the first event until set
    holding: threading.Event = field(default_factory=threading.Event)  # the stream waits at the gate now
    requests: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)  # (path, headers, JSON body)
    disconnected: threading.Event = field(default_factory=threading.Event)  # the client went away mid-stream
    finished: threading.Event = field(default_factory=threading.Event)  # the stream was written to its end
    url: str = ""

    def events(self, prompt_len: int) -> Iterator[dict]:
        def chunk(ids: list[int], finish: str | None = None) -> dict:
            choice: dict[str, Any] = {"index": 0, "text": "x" * len(ids), "finish_reason": finish}
            if self.token_ids_field:
                choice["token_ids"] = ids
            return {"id": "cmpl-1", "object": "text_completion", "model": self.model, "choices": [choice]}

        if self.endless is not None:
            while True:
                yield chunk([self.endless])
        for k, ids in enumerate(self.chunks):
            yield chunk(ids, "stop" if k == len(self.chunks) - 1 else None)
        usage: dict[str, Any] = {"prompt_tokens": prompt_len, "completion_tokens": sum(map(len, self.chunks))}
        if self.cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        yield {"id": "cmpl-1", "object": "text_completion", "choices": [], "usage": usage}


def _handler(fake: FakeVllm) -> type[SseHandler]:
    class Handler(SseHandler):
        def do_GET(self) -> None:  # http.server naming
            fake.requests.append((self.path, dict(self.headers), None))
            if self.path == "/v1/models":
                self.send_json(200, {"object": "list", "data": [
                    {"id": fake.model, "object": "model", "max_model_len": fake.max_model_len}]})
            else:
                self.send_json(404, {"error": {"message": "Not Found", "code": 404}})

        def do_POST(self) -> None:  # http.server naming
            body = self.read_json()
            fake.requests.append((self.path, dict(self.headers), body))
            if self.path != "/v1/completions":
                self.send_json(404, {"error": {"message": "Not Found", "code": 404}})
                return
            if fake.error is not None:
                self.send_json(*fake.error)
                return

            def gated() -> Iterator[dict]:
                for k, event in enumerate(fake.events(len(body["prompt"]))):
                    yield event  # written before the generator resumes
                    if k == 0 and fake.gate is not None:
                        fake.holding.set()
                        fake.gate.wait(300)

            (fake.finished if self.send_events(gated()) else fake.disconnected).set()

    return Handler


@pytest.fixture
def fake_vllm() -> Iterator[FakeVllm]:
    fake = FakeVllm()
    served = serve_in_thread(_handler(fake))
    fake.url = next(served)
    try:
        yield fake
    finally:
        if fake.gate is not None:
            fake.gate.set()
        served.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(fake: FakeVllm, **server: Any) -> VllmDecodeLoop:
    return VllmDecodeLoop(LlmServer(fake.url, **server), CHAT_VOCAB_SIZE)


SPOKEN = DecodeSettings(force_modality="speech", min_speech_units=2, max_speech_units=50, max_new_tokens=300, seed=11,
                        speech=SamplingParams(temperature=0.7, top_k=5))


# -- the client on its own ----------------------------------------------------------------------------------------------

def test_ids_stream_as_the_server_sends_them_and_the_request_carries_the_turn(fake_vllm: FakeVllm) -> None:
    reply = [*TEXT_IDS, *speech_span(6), END_OF_MMGPT_ID]
    fake_vllm.chunks = [reply[:1], reply[1:4], reply[4:9], reply[9:]]
    fake_vllm.gate = threading.Event()
    loop = client(fake_vllm)
    prompt = [BOS_ID, HUMAN_ID, *TEXT_IDS, MMGPT_ID]
    stream = loop.run(prompt, SPOKEN, TaskState())
    assert next(stream) == reply[0]  # the first id arrives while the server still holds the rest
    assert not fake_vllm.finished.is_set()
    fake_vllm.gate.set()
    assert [reply[0], *stream] == reply
    assert loop.last_stats.new_tokens == len(reply) and loop.last_stats.cached_tokens == 5
    assert 0 < loop.last_stats.prefill_seconds <= loop.last_stats.seconds

    (models_path, _, _), (path, headers, body) = fake_vllm.requests
    assert models_path == "/v1/models" and path == "/v1/completions"
    assert "Authorization" not in headers
    assert body["model"] == "AnyGPT-chat" and body["prompt"] == prompt
    assert body["stream"] is True and body["return_token_ids"] is True and body["skip_special_tokens"] is False
    assert (body["temperature"], body["top_p"], body["top_k"], body["repetition_penalty"]) == (1.0, 1.0, -1, 1.0)
    assert body["seed"] == 11 and body["max_tokens"] == 300
    assert body["stop_token_ids"] == list(END_OF_TURN_IDS)
    assert decode_settings_from_extra_args(body["vllm_xargs"]) == SPOKEN


def test_models_are_asked_once_and_the_cap_leaves_room_in_the_context(fake_vllm: FakeVllm) -> None:
    fake_vllm.chunks = [[*TEXT_IDS, END_OF_MMGPT_ID]]
    fake_vllm.max_model_len = 100
    fake_vllm.cached_tokens = None
    loop = client(fake_vllm, api_key="sekret")
    settings = DecodeSettings(max_new_tokens=4000)
    for _ in range(2):
        assert list(loop.run([BOS_ID] * 30, settings)) == [*TEXT_IDS, END_OF_MMGPT_ID]
    paths = [p for p, _, _ in fake_vllm.requests]
    assert paths == ["/v1/models", "/v1/completions", "/v1/completions"]
    assert fake_vllm.requests[1][2]["max_tokens"] == 70
    assert all(h["Authorization"] == "Bearer sekret" for _, h, _ in fake_vllm.requests)
    assert loop.last_stats.cached_tokens == 0
    with pytest.raises(LlmServerError, match=r"does not fit the context .* \(100 tokens\)"):
        list(loop.run([BOS_ID] * 100, settings))


def test_cancel_mid_stream_closes_the_connection(fake_vllm: FakeVllm) -> None:
    fake_vllm.endless = TEXT_IDS[0]
    loop = client(fake_vllm)
    state = TaskState()
    got = []
    for token in loop.run([BOS_ID], DecodeSettings(max_text_tokens=10**6, max_new_tokens=10**6), state):
        got.append(token)
        if len(got) == 3:
            state.cancel()
    assert got == [TEXT_IDS[0]] * 3  # the loop stopped at the next chunk
    assert fake_vllm.disconnected.wait(30)  # the server saw its client go (vLLM then aborts the request)


def _reading(thread: threading.Thread) -> bool:
    """``thread`` is blocked in a socket read now."""
    import sys

    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name in ("recv_into", "readinto", "_safe_read", "read1", "_fp_read"):
            return True
        frame = frame.f_back
    return False


def test_stop_lands_while_the_server_is_silent(fake_vllm: FakeVllm) -> None:
    """A request waiting in vLLM's queue sends nothing: Stop must not wait for the next chunk."""
    fake_vllm.chunks = [[TEXT_IDS[0]], [TEXT_IDS[1]], [END_OF_MMGPT_ID]]
    fake_vllm.gate = threading.Event()  # the server goes silent after the first id (until the test lets it go)
    state = TaskState()
    got: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for token in client(fake_vllm).run([BOS_ID], DecodeSettings(max_text_tokens=10), state):
                got.append(token)
        except BaseException as exc:  # reported below
            errors.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    assert fake_vllm.holding.wait(60)
    for _ in range(6000):  # until the first id came and the consumer sits in a socket read (its stack says so)
        if (got and _reading(consumer)) or not consumer.is_alive():
            break
        threading.Event().wait(0.01)
    assert got and _reading(consumer), "the client never waited on the silent server"
    state.cancel()
    consumer.join(120)  # a hang guard, not a speed target: without the watcher it waits for the server
    released_after = consumer.is_alive()
    fake_vllm.gate.set()
    consumer.join(60)
    assert not released_after, "Stop waited for the silent server"
    assert not errors and got == [TEXT_IDS[0]]  # a Stop is not an error; the ids before it were streamed
    assert fake_vllm.disconnected.wait(30)  # the server saw its client go


def test_a_consumer_that_stops_early_closes_the_connection(fake_vllm: FakeVllm) -> None:
    fake_vllm.endless = TEXT_IDS[0]
    stream = client(fake_vllm).run([BOS_ID], DecodeSettings(max_text_tokens=10**6, max_new_tokens=10**6))
    assert next(stream) == TEXT_IDS[0]
    stream.close()
    assert fake_vllm.disconnected.wait(30)


def test_an_id_the_grammar_forbids_says_to_start_vllm_with_the_processor(fake_vllm: FakeVllm) -> None:
    fake_vllm.chunks = [TEXT_IDS[:1], [UNIT_BASE_ID["speech"] + 3], [END_OF_MMGPT_ID]]  # a unit outside any span
    stream = client(fake_vllm).run([BOS_ID], DecodeSettings())
    assert next(stream) == TEXT_IDS[0]
    with pytest.raises(LlmServerError, match="anygpt_desktop.vllm_plugin:AnyGPTLogitsProcessor"):
        next(stream)


def test_a_forced_end_must_come_when_the_grammar_imposes_it(fake_vllm: FakeVllm) -> None:
    fake_vllm.chunks = [speech_span(3)[:-1], [UNIT_BASE_ID["speech"]]]  # a 4th unit where max 3 forces <eosp>
    settings = DecodeSettings(force_modality="speech", open_immediately=True, min_speech_units=1, max_speech_units=3)
    with pytest.raises(LlmServerError, match="does not allow"):
        list(client(fake_vllm).run([BOS_ID], settings))


@pytest.mark.parametrize("body", [
    {"object": "error", "message": "This model's maximum context length is 2048 tokens.", "type": "BadRequestError",
     "code": 400},
    {"error": {"message": "This model's maximum context length is 2048 tokens.", "type": "BadRequestError",
               "code": 400}},
])
def test_an_http_error_surfaces_vllms_message(fake_vllm: FakeVllm, body: dict) -> None:
    fake_vllm.error = (400, body)
    with pytest.raises(LlmServerError, match=r"HTTP 400\): This model's maximum context length is 2048 tokens"):
        list(client(fake_vllm).run([BOS_ID], DecodeSettings()))


def test_a_refused_key_says_how_to_give_one(fake_vllm: FakeVllm) -> None:
    fake_vllm.error = (401, {"error": "Unauthorized"})
    with pytest.raises(LlmServerError, match="HTTP 401.*--llm-api-key"):
        list(client(fake_vllm, model="AnyGPT-chat").run([BOS_ID], DecodeSettings()))


def test_an_old_vllm_without_token_ids_is_named(fake_vllm: FakeVllm) -> None:
    fake_vllm.chunks = [TEXT_IDS]
    fake_vllm.token_ids_field = False
    with pytest.raises(LlmServerError, match="vLLM 0.10.2 or newer"):
        list(client(fake_vllm).run([BOS_ID], DecodeSettings()))


def test_a_server_that_is_down_cannot_be_reached() -> None:
    loop = VllmDecodeLoop(LlmServer(f"http://127.0.0.1:{free_port()}/v1", connect_timeout_s=5), CHAT_VOCAB_SIZE)
    with pytest.raises(LlmServerError, match=r"^the LLM server at http://127.0.0.1:\d+/v1 could not be reached: "):
        list(loop.run([BOS_ID], DecodeSettings()))


def test_scripted_ids_are_refused_remotely(fake_vllm: FakeVllm) -> None:
    with pytest.raises(LlmServerError, match="scripted replies"):
        list(client(fake_vllm).run([BOS_ID], DecodeSettings(), None, ScriptedIds(TEXT_IDS)))
    assert fake_vllm.requests == []


def test_an_address_must_be_http() -> None:
    with pytest.raises(LlmServerError, match="must start with http"):
        LlmServer("ws://127.0.0.1:8000/v1")


# -- the assistant with its LLM on the server -------------------------------------------------------------------------

@pytest.fixture
def no_local_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading the LLM's weights here fails the test."""
    from anygpt_desktop.engine import assistant as assistant_module
    from anygpt_desktop.engine import llm_weights

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the LLM weights were loaded although the LLM is served")

    monkeypatch.setattr(assistant_module, "load_llm", refuse)
    monkeypatch.setattr(llm_weights, "load_into", refuse)
    monkeypatch.setattr(llm_weights, "checkpoint_files", refuse)


def served_assistant(models: Path, out: Path, url: str, **decode: Any) -> Assistant:
    limits = dict(max_text_tokens=12, max_speech_units=60, max_music_units=40)
    limits.update(decode)
    settings = AssistantSettings(seed=0, output_dir=out, decode=DecodeSettings(**limits), llm_url=url)
    assistant = Assistant(models, settings=settings)
    assistant.load()
    return assistant


@pytest.mark.slow
def test_a_spoken_turn_runs_through_the_server_without_local_llm_weights(
    fake_vllm: FakeVllm, tiny_models: Path, tmp_path: Path, voice_like: Any, no_local_llm: None
) -> None:
    assistant = served_assistant(tiny_models, tmp_path / "out", fake_vllm.url)
    assert assistant.llm is not None and assistant.llm.model is None
    reply_text = assistant.llm.tokenizer.encode("Hi there.", add_bos=False)
    reply = [*reply_text, *speech_span(30), END_OF_MMGPT_ID]
    fake_vllm.chunks = [[i] for i in reply]
    events = list(assistant.turn(TurnRequest(speech=voice_like), TaskState()))

    assert isinstance(events[-1], TurnDone), events[-1]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).strip() == "Hi there."
    assert sum(len(e.audio) for e in events if isinstance(e, SpeechChunk)) == 30 * 320  # 20 ms per unit at 16 kHz
    assert [e for e in events if isinstance(e, SpeechReady)]
    assert events[-1].stats == {"new_tokens": len(reply), "cached_tokens": 5}
    body = fake_vllm.requests[-1][2]
    assert body["prompt"][0] == BOS_ID and body["prompt"][-1] != END_OF_MMGPT_ID
    assert SOSP in body["prompt"]  # the user's speech, encoded here, went to the server as units
    sent = decode_settings_from_extra_args(body["vllm_xargs"])
    assert sent is not None and sent.force_modality == "speech" and sent.max_speech_units == 60
    assert "<eosp>" in assistant.conversation.messages[-1].text  # the reply is in the conversation


def test_a_server_that_is_down_is_a_failed_turn_in_words(tiny_models: Path, tmp_path: Path, no_local_llm: None) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    assistant = served_assistant(tiny_models, tmp_path / "out", url)  # loads: vLLM may still be starting
    events = list(assistant.turn(TurnRequest(text="hello"), TaskState()))
    notices = [e.message for e in events if isinstance(e, Notice)]
    assert notices and "could not be reached" in notices[0] and "each turn tries again" in notices[0]
    failed = events[-1]
    assert isinstance(failed, TurnFailed) and not failed.engine_lost
    assert failed.reason.startswith(f"the LLM server at {url} could not be reached")
    assert assistant.conversation.messages == []


def test_forced_ids_and_beams_with_a_served_llm(fake_vllm: FakeVllm, tiny_models: Path, tmp_path: Path,
                                                no_local_llm: None) -> None:
    assistant = served_assistant(tiny_models, tmp_path / "out", fake_vllm.url, text_beams=5)
    fake_vllm.chunks = [[*TEXT_IDS, END_OF_MMGPT_ID]]
    events = list(assistant.turn(TurnRequest(text="hello"), TaskState()))
    assert isinstance(events[-1], TurnDone)
    assert [e.message for e in events if isinstance(e, Notice)] == [
        "beam sampling is not available with a vLLM server: text replies are sampled once (and streamed)"]
    sent = decode_settings_from_extra_args(fake_vllm.requests[-1][2]["vllm_xargs"])
    assert sent is not None and sent.text_beams == 1
    failed = list(assistant.turn(TurnRequest(text="hello"), TaskState(), forced_ids=TEXT_IDS))
    assert isinstance(failed[-1], TurnFailed) and "scripted replies" in failed[-1].reason
    assert not any(isinstance(e, Notice) for e in failed)  # said once


# -- wiring: settings, environment, command lines -----------------------------------------------------------------------

def test_the_server_comes_from_the_setting_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANYGPT_LLM_URL", raising=False)
    assert AssistantSettings().served_llm_url() is None
    monkeypatch.setenv("ANYGPT_LLM_URL", "http://env:8000/v1")
    assert AssistantSettings().served_llm_url() == "http://env:8000/v1"
    assert AssistantSettings(llm_url="http://set:8000/v1").served_llm_url() == "http://set:8000/v1"


def test_the_command_lines_take_llm_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from anygpt_desktop.cli import build_parser
    from anygpt_desktop.engine.cli_runners import _assistant
    from anygpt_desktop.serve.cli import use_llm_server

    parser = build_parser()
    args = parser.parse_args(["serve", "--token-file", "t", "--llm-url", "http://gpu:8000/v1", "--llm-model", "chat"])
    assistant = Assistant("models")
    use_llm_server(assistant, args)
    assert (assistant.settings.llm_url, assistant.settings.llm_model) == ("http://gpu:8000/v1", "chat")
    chat = _assistant(parser.parse_args(["chat", "--models", "m", "--llm-url", "http://gpu:8000/v1",
                                         "--llm-api-key", "k"]))
    assert (chat.settings.llm_url, chat.settings.llm_api_key) == ("http://gpu:8000/v1", "k")
    gui = parser.parse_args(["--self-test", "--llm-url", "http://gpu:8000/v1", "--llm-api-key", "k"])
    from anygpt_desktop.app.engines import use_llm_server_args

    monkeypatch.setenv("ANYGPT_LLM_URL", "")  # restored (removed) after the test
    monkeypatch.setenv("ANYGPT_LLM_API_KEY", "")
    use_llm_server_args(gui)  # the engine process inherits the environment
    import os

    assert (os.environ["ANYGPT_LLM_URL"], os.environ["ANYGPT_LLM_API_KEY"]) == ("http://gpu:8000/v1", "k")


@pytest.mark.slow
def test_the_chat_cli_answers_through_the_server(fake_vllm: FakeVllm, tiny_models: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from anygpt_desktop.protocol.text_tokenizer import AnyGPTTokenizer

    tokenizer = AnyGPTTokenizer.from_folder(tiny_models / "AnyGPT-chat")
    fake_vllm.chunks = [[i] for i in tokenizer.encode("Paris.", add_bos=False)] + [[END_OF_MMGPT_ID]]
    root = str(Path(__file__).resolve().parents[2])  # this checkout's package, whatever is installed
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "ANYGPT_LLM_API_KEY": "k",
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run(
        [sys.executable, "-m", "anygpt_desktop", "chat", "--models", str(tiny_models), "--output-dir",
         str(tmp_path / "out"), "--llm-url", fake_vllm.url, "--llm-model", "AnyGPT-chat"],
        input="What is the capital of France?\nquit\n", capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Paris." in proc.stdout
    assert fake_vllm.requests[-1][1]["Authorization"] == "Bearer k"  # the key from the environment
