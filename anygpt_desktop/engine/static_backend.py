"""The fast :class:`~anygpt_desktop.engine.llm_backend.DecodeBackend`: a static KV cache and a compiled one-token step.

Prefill runs eagerly (its length varies); the one-token step has fixed shapes and, in ``compiled`` mode, goes through
``torch.compile`` (CUDA graphs on a GPU, ``mode="reduce-overhead"``). Compilation happens in :meth:`warm_up`, called
at model load behind the load progress, with inductor's cache in the user cache folder so later starts are quick.
Any compile failure falls back to the eager step, logs a warning and sets :attr:`StaticCacheBackend.compile_error`
(the app turns it into a notice); it never raises.

Reusing a prefix across turns costs nothing: the cache keeps its contents and only the position pointer moves back;
positions past the pointer are masked until they are overwritten. The ids in the cache live on the device too, so a
step fed a device tensor (the sampled id) never waits for the host.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable, Literal, Sequence

import torch

from anygpt_desktop.engine.llm import LoadedLLM
from anygpt_desktop.engine.static_llama import StaticLlama, kv_cache_bytes

logger = logging.getLogger(__name__)

DecodeMode = Literal["eager", "compiled"]
DEFAULT_CONTEXT = 4096

__all__ = [
    "DEFAULT_CONTEXT",
    "ContextFullError",
    "DecodeMode",
    "StaticCacheBackend",
    "compile_cache_dir",
    "default_decode_mode",
    "kv_cache_bytes",
    "make_backend",
]


class ContextFullError(RuntimeError):
    """The conversation no longer fits the model's context: the message says so in the user's terms."""


def default_decode_mode(device: torch.device) -> DecodeMode:
    """Compiled on CUDA (CUDA graphs are where the step's overhead goes away), eager elsewhere."""
    return "compiled" if torch.device(device).type == "cuda" else "eager"


def compile_cache_dir() -> Path:
    """Where inductor keeps compiled kernels: ``<user cache>/inductor`` (``TORCHINDUCTOR_CACHE_DIR`` if set)."""
    configured = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return Path(platformdirs.user_cache_dir("anygpt-desktop")) / "inductor"


def _use_compile_cache_dir() -> Path:
    folder = compile_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)  # read by inductor whenever it looks for its cache
    return folder


class StaticCacheBackend:
    """One conversation's static KV cache over a loaded LLM. ``compile=True`` compiles the step in :meth:`warm_up`."""

    def __init__(self, llm: LoadedLLM, context: int = DEFAULT_CONTEXT, compile: bool = False) -> None:
        self.llm = llm
        self.device = llm.device
        self.vocab_size = llm.vocab_size
        self.context = int(context)
        self.model = StaticLlama(llm.model, self.context)
        self.compile_requested = compile
        self.compile_error: str | None = None  # set when compiling failed and the eager step is used instead
        self._compiled: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
        self._length = 0  # positions 0..length-1 hold the cached ids
        self._ids = torch.zeros(self.context, dtype=torch.long, device=self.device)  # the cached ids, on the device
        self._position = torch.zeros(1, dtype=torch.long, device=self.device)  # == length, kept on the device
        self._token = torch.zeros(1, 1, dtype=torch.long, device=self.device)

    # -- the DecodeBackend protocol -----------------------------------------------------------------------------

    @property
    def compiled(self) -> bool:
        """True once the compiled step is in use."""
        return self._compiled is not None

    @property
    def cache_bytes(self) -> int:
        return self.model.cache_bytes

    def cached_ids(self) -> list[int]:
        return [int(i) for i in self._ids[: self._length].tolist()]

    def reset(self) -> None:
        self._length = 0
        self._position.zero_()

    @torch.inference_mode()
    def prefill(self, prompt_ids: Sequence[int]) -> tuple[torch.Tensor, int]:
        prompt = [int(i) for i in prompt_ids]
        if not prompt:
            raise ValueError("an empty prompt cannot be continued")
        if len(prompt) >= self.context:
            raise ContextFullError(
                f"the conversation is {len(prompt)} tokens long, the model's context holds {self.context}: "
                "start a new conversation or clear the history"
            )
        reused = 0
        for a, b in zip(self.cached_ids(), prompt):
            if a != b:
                break
            reused += 1
        reused = min(reused, len(prompt) - 1)  # always compute at least the last prompt id
        new = prompt[reused:]
        try:
            self._length = reused  # positions from here on are stale until overwritten below
            ids = torch.tensor([new], dtype=torch.long, device=self.device)
            positions = torch.arange(reused, len(prompt), device=self.device)
            logits = self.model(ids, positions, kv_len=len(prompt))
            self._ids[reused:len(prompt)] = ids[0]
        except BaseException:
            self.reset()
            raise
        self._length = len(prompt)
        self._position.fill_(self._length)
        return logits, reused

    @torch.inference_mode()
    def step(self, token: int | torch.Tensor) -> torch.Tensor:
        if self._length >= self.context:
            raise ContextFullError(
                f"the reply reached the end of the model's context ({self.context} tokens): "
                "start a new conversation or clear the history"
            )
        if isinstance(token, torch.Tensor):
            self._token.copy_(token.reshape(1, 1))  # device to device: no host sync
        else:
            self._token.fill_(int(token))
        try:
            logits = self._run_step(self._token, self._position)
            self._ids[self._position] = self._token[0]
        except BaseException:
            self.reset()  # a half-updated cache must not serve the next turn
            raise
        self._length += 1
        self._position.add_(1)
        return logits

    # -- compilation --------------------------------------------------------------------------------------------

    def _eager_step(self, token: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        return self.model(token, position)

    def _run_step(self, token: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        if self._compiled is None:
            return self._eager_step(token, position)
        try:
            if self.device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
                return self._compiled(token, position).clone()  # the graph's output buffer is reused next step
            return self._compiled(token, position)
        except Exception as exc:  # a late recompilation failed: the eager step writes the same cache positions
            self._give_up_compiling(exc)
            return self._eager_step(token, position)

    def _give_up_compiling(self, exc: BaseException) -> None:
        self._compiled = None
        self.compile_error = f"{type(exc).__name__}: {exc}"
        logger.warning("compiled decoding failed, using the eager step instead: %s", self.compile_error)

    def warm_up(self, progress: Callable[[str, float], None] | None = None) -> None:
        """Compile the step (when asked) and run it until it is ready: the first calls trace, compile and, on CUDA,
        record the graph. Leaves the cache empty. Never raises for a compile failure: see :attr:`compile_error`."""
        if not self.compile_requested or self._compiled is not None:
            return
        report = progress or (lambda message, fraction: None)
        try:
            folder = _use_compile_cache_dir()
            logger.info("compiling the decode step (cache in %s)", folder)
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._compiled = torch.compile(self._eager_step, mode=mode, fullgraph=True, dynamic=False)
            calls = 3 if self.device.type == "cuda" else 2  # CUDA graphs: warm-up run, then recording, then replay
            with torch.inference_mode():
                for k in range(calls):
                    report("compiling the decode step", k / calls)
                    self.prefill([0])
                    self._run_step(self._token, self._position)
            report("compiling the decode step", 1.0)
        except Exception as exc:
            self._give_up_compiling(exc)
        finally:
            self.reset()


def make_backend(
    llm: LoadedLLM,
    mode: DecodeMode | None = None,
    context: int = DEFAULT_CONTEXT,
    progress: Callable[[str, float], None] | None = None,
) -> StaticCacheBackend:
    """The static-cache backend for ``llm``; ``mode`` None picks :func:`default_decode_mode`. ``compiled`` is warmed
    up (compiled) here; check ``backend.compile_error`` for a fallback to the eager step to tell the user about."""
    mode = mode or default_decode_mode(llm.device)
    if mode not in ("eager", "compiled"):
        raise ValueError(f"unknown decode mode {mode!r}: choose eager or compiled")
    backend = StaticCacheBackend(llm, context=context, compile=mode == "compiled")
    backend.warm_up(progress)
    return backend
