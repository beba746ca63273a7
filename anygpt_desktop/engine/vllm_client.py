"""The engine's LLM as an OpenAI-compatible vLLM server (``--llm-url http://host:8000/v1``).

:class:`VllmDecodeLoop` has the interface the assistant uses from :class:`~anygpt_desktop.engine.decode_loop.DecodeLoop`
(``run`` streams one turn's ids, ``last_stats``, ``reset``), but nothing is sampled here: the prompt ids go to the
server's ``/completions`` endpoint with the turn's :class:`DecodeSettings` in ``vllm_xargs``; the AnyGPT logits
processor inside vLLM (``anygpt_desktop.vllm_plugin``) applies the output grammar and the per-span sampling, so the
request itself asks for neutral sampling. The ids stream back (``return_token_ids``); the local
:class:`OutputGrammar` follows them to find the turn's end and refuses an id the grammar forbids (a server started
without the processor). Cancelling closes the connection, and vLLM aborts a request whose client went away.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import requests

from anygpt_desktop.cancel import CancelToken
from anygpt_desktop.engine.decode_loop import DecodeStats
from anygpt_desktop.engine.decode_settings import DecodeSettings
from anygpt_desktop.engine.output_grammar import OutputGrammar
from anygpt_desktop.engine.vllm_args import decode_settings_to_xargs
from anygpt_desktop.protocol.vocab import END_OF_TURN_IDS

logger = logging.getLogger(__name__)

PROCESSOR = "anygpt_desktop.vllm_plugin:AnyGPTLogitsProcessor"
API_KEY_ENV = "ANYGPT_LLM_API_KEY"
URL_ENV = "ANYGPT_LLM_URL"


class LlmServerError(RuntimeError):
    """The LLM server could not serve a turn; the message says why in the user's terms."""


@dataclass
class LlmServer:
    """Where the LLM is served and how to reach it."""

    url: str  # the OpenAI-compatible base, e.g. http://127.0.0.1:8000/v1
    api_key: str | None = None  # sent as a bearer token
    model: str | None = None  # the served model name; None: the first one the server lists
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 300.0  # the longest silence between two chunks (the first waits for the queue and prefill)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        if not re.match(r"^https?://", self.url):
            raise LlmServerError(f"the LLM server address {self.url!r} must start with http:// or https://")


def _reason(exc: BaseException) -> str:
    """A short reason for a transport error (requests' messages repeat the whole URL and pool)."""
    text = str(exc)
    errno = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if errno:
        return errno.group(1).strip()
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return "no answer in time (timed out)"
    return text if len(text) <= 200 else type(exc).__name__


def _server_message(response: requests.Response) -> str:
    """vLLM's error message from an error body (``{"error": {"message": ...}}`` or ``{"object": "error", ...}``)."""
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason
    return _error_message(data) or response.text.strip()[:300]


def _error_message(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if error:
        return str(error)
    if data.get("object") == "error":
        return str(data.get("message") or data)
    return None


class VllmDecodeLoop:
    """Streams a turn's ids from a vLLM server; the assistant drives it like the local decode loop."""

    def __init__(self, server: LlmServer, vocab_size: int) -> None:
        self.server = server
        self.vocab_size = vocab_size
        self.last_stats = DecodeStats()
        self._session = requests.Session()
        self._session.headers["Accept"] = "text/event-stream"
        if server.api_key:
            self._session.headers["Authorization"] = f"Bearer {server.api_key}"
        self._model: str | None = server.model
        self._max_model_len: int | None = None
        self._asked_models = False

    # -- the DecodeLoop interface ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Nothing to forget here: vLLM's prefix cache serves what the conversations share."""

    def close(self) -> None:
        self._session.close()

    def run(
        self,
        prompt_ids: Sequence[int],
        settings: DecodeSettings,
        state: CancelToken | None = None,
        strategy: object | None = None,
    ) -> Iterator[int]:
        """Stream the ids of one turn as the server sends them."""
        self.last_stats = stats = DecodeStats()
        if strategy is not None:
            raise LlmServerError(
                "scripted replies (tests, benchmarks) cannot run on a vLLM server: the server samples every id"
            )
        prompt_ids = [int(i) for i in prompt_ids]
        start = time.perf_counter()
        response = self._post(self._request_body(prompt_ids, settings))
        grammar = OutputGrammar(self.vocab_size, "cpu", settings)
        watcher = _CloseOnCancel(state, response) if state is not None else None
        try:
            ended = False
            for ids, usage in self._chunks(response, state):
                if usage is not None:
                    details = usage.get("prompt_tokens_details") or {}
                    stats.cached_tokens = int(details.get("cached_tokens") or 0)
                if ended and ids:
                    break  # more after the turn's end (vLLM stops at the end ids; only usage should follow)
                for token_id in ids:
                    self._check(grammar, token_id)
                    if stats.new_tokens == 0:
                        stats.prefill_seconds = time.perf_counter() - start
                    stats.new_tokens += 1
                    ended = grammar.advance(token_id)
                    yield token_id
                    if ended:
                        break
                if state is not None and state.cancelled():
                    break
        finally:
            if watcher is not None:
                watcher.stop()
            response.close()  # before the end of the stream: vLLM aborts the request when its client disconnects
            stats.seconds = time.perf_counter() - start
            stats.computed_tokens = len(prompt_ids) - stats.cached_tokens + stats.new_tokens

    # -- the request -------------------------------------------------------------------------------------------
    def _request_body(self, prompt_ids: list[int], settings: DecodeSettings) -> dict[str, Any]:
        model, max_model_len = self.model_info()
        max_tokens = settings.max_new_tokens
        if max_model_len is not None:
            room = max_model_len - len(prompt_ids)
            if room < 1:
                raise LlmServerError(
                    f"the conversation ({len(prompt_ids)} tokens) does not fit the context of the LLM server at "
                    f"{self.server.url} ({max_model_len} tokens); start vLLM with --max-model-len 4096, or clear "
                    "the conversation"
                )
            max_tokens = min(max_tokens, room)
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt_ids,
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "return_token_ids": True,
            # neutral: the AnyGPT logits processor samples each span with its own parameters
            "temperature": 1.0,
            "top_p": 1.0,
            "top_k": -1,
            "repetition_penalty": 1.0,
            "skip_special_tokens": False,
            "stop_token_ids": list(END_OF_TURN_IDS),
            "vllm_xargs": decode_settings_to_xargs(settings),
        }
        if settings.seed is not None:
            body["seed"] = settings.seed
        return body

    def model_info(self) -> tuple[str, int | None]:
        """The served model's name (configured, or the first the server lists) and its context length if known.
        Asked once; raises :class:`LlmServerError` when no name is configured and the server cannot say."""
        if not self._asked_models:
            try:
                data = self._get_json("/models")
            except LlmServerError:
                if self._model is None:
                    raise
                data = {}  # the name is configured: the context length is only a nicety
            models = [m for m in data.get("data") or [] if isinstance(m, dict) and m.get("id")]
            if self._model is None and not models:
                raise LlmServerError(f"the LLM server at {self.server.url} serves no model")
            chosen = next((m for m in models if m["id"] == self._model), models[0] if models else {})
            self._model = self._model or str(chosen["id"])
            length = chosen.get("max_model_len") if chosen.get("id") == self._model else None
            self._max_model_len = int(length) if isinstance(length, int) and length > 0 else None
            self._asked_models = True
            logger.info("LLM server %s: model %s, context %s", self.server.url, self._model, self._max_model_len)
        assert self._model is not None
        return self._model, self._max_model_len

    def _get_json(self, path: str) -> dict:
        url = self.server.url + path
        try:
            response = self._session.get(url, timeout=(self.server.connect_timeout_s, self.server.connect_timeout_s))
        except requests.RequestException as exc:
            raise self._unreachable(exc) from exc
        with response:
            self._raise_for_status(response)
            try:
                data = response.json()
            except ValueError as exc:
                raise LlmServerError(f"the LLM server at {self.server.url} answered {path} with something that is "
                                     "not JSON: is this address an OpenAI-compatible server (…/v1)?") from exc
        return data if isinstance(data, dict) else {}

    def _post(self, body: dict[str, Any]) -> requests.Response:
        try:
            response = self._session.post(
                self.server.url + "/completions", json=body, stream=True,
                timeout=(self.server.connect_timeout_s, self.server.read_timeout_s),
            )
        except requests.RequestException as exc:
            raise self._unreachable(exc) from exc
        try:
            self._raise_for_status(response)
        except BaseException:
            response.close()
            raise
        return response

    def _unreachable(self, exc: BaseException) -> LlmServerError:
        return LlmServerError(
            f"the LLM server at {self.server.url} could not be reached: {_reason(exc)} (is vLLM running? see "
            "docs/serve.md)"
        )

    def _raise_for_status(self, response: requests.Response) -> None:
        if response.status_code < 400:
            return
        message = _server_message(response)
        where = f"the LLM server at {self.server.url}"
        if response.status_code in (401, 403):
            raise LlmServerError(f"{where} refused the request (HTTP {response.status_code}: {message}); give its "
                                 f"API key with --llm-api-key or ${API_KEY_ENV}")
        raise LlmServerError(f"{where} refused the request (HTTP {response.status_code}): {message}")

    # -- the stream --------------------------------------------------------------------------------------------
    def _chunks(self, response: requests.Response, state: CancelToken | None = None
                ) -> Iterator[tuple[list[int], dict | None]]:
        """``(token ids, usage or None)`` per server-sent event, until ``data: [DONE]`` (or a Stop that closed the
        connection: the stream just ends)."""
        where = f"the LLM server at {self.server.url}"
        try:
            for raw in response.iter_lines(chunk_size=None):
                line = raw.decode("utf-8", "replace").strip() if isinstance(raw, bytes) else str(raw).strip()
                if not line.startswith("data:"):
                    continue  # blank separators, comments, event names
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                try:
                    data = json.loads(payload)
                except json.JSONDecodeError as exc:
                    raise LlmServerError(f"{where} sent an unreadable event: {payload[:120]!r}") from exc
                error = _error_message(data)
                if error:
                    raise LlmServerError(f"{where} stopped the reply: {error}")
                usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
                ids: list[int] = []
                for choice in data.get("choices") or []:
                    token_ids = choice.get("token_ids")
                    if token_ids is None:
                        if choice.get("text") or choice.get("finish_reason") is None:
                            raise LlmServerError(
                                f"{where} does not send token ids: vLLM 0.10.2 or newer is needed (the request asks "
                                "for return_token_ids)"
                            )
                        continue
                    ids.extend(int(i) for i in token_ids)
                yield ids, usage
        except (requests.RequestException, OSError, ValueError, AttributeError) as exc:
            if state is not None and state.cancelled():
                return  # the Stop closed the connection under the read
            if not isinstance(exc, (requests.RequestException, OSError)):
                raise
            raise LlmServerError(f"the connection to {where} broke during the reply: {_reason(exc)}") from exc

    def _check(self, grammar: OutputGrammar, token_id: int) -> None:
        forced = grammar.forced_id()
        allowed = token_id == forced if forced is not None else (
            0 <= token_id < self.vocab_size and bool(grammar.allowed_mask()[token_id])
        )
        if not allowed:
            raise LlmServerError(
                f"the LLM server at {self.server.url} sent id {token_id}, which the reply's grammar does not allow "
                f"here: it does not run the AnyGPT logits processor. Start vLLM with --logits-processors {PROCESSOR}"
            )


class _CloseOnCancel:
    """Closes a streaming response as soon as ``state`` is cancelled, so a Stop lands while the server is silent too
    (a request waiting in vLLM's queue, a long prefill), not only between two chunks."""

    def __init__(self, state: CancelToken, response: requests.Response, poll_s: float = 0.05) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(state, response, poll_s), name="vllm-cancel",
                                        daemon=True)
        self._thread.start()

    def _watch(self, state: CancelToken, response: requests.Response, poll_s: float) -> None:
        while not self._done.wait(poll_s):
            if state.cancelled():
                sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
                try:
                    if sock is not None:
                        sock.shutdown(socket.SHUT_RDWR)  # wakes the read blocked in the other thread
                except OSError:
                    pass  # already closed
                response.close()
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join(timeout=5)
