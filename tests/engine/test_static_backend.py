"""The static-cache backend against the Hugging Face model: same logits, same ids, eager step and compiled step.

The reference is the HF forward with a growing ``DynamicCache`` (``HFEagerBackend``, what the decode loop has always
run). A small id-level driver plays the decode loop's part (prefill, then choose-and-step with the project's sampler),
over several turns that reuse the cached prefix, diverge inside the previous reply (stale cache positions) and follow
a turn cancelled mid-way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources as pkg_resources
from pathlib import Path

import pytest
import torch

from anygpt_desktop.bench.decode import HFEagerBackend, random_llm
from anygpt_desktop.engine.llm import LoadedLLM, load_llm
from anygpt_desktop.engine.sampling import SamplingParams, choose
from anygpt_desktop.engine.static_backend import (
    ContextFullError,
    StaticCacheBackend,
    compile_cache_dir,
    default_decode_mode,
    kv_cache_bytes,
    make_backend,
)
from anygpt_desktop.protocol.vocab import BOS_ID, END_OF_HUMAN_ID, HUMAN_ID, MMGPT_ID

GREEDY = SamplingParams(do_sample=False)
SAMPLED = SamplingParams(do_sample=True, temperature=0.8, top_k=40, top_p=0.9, repetition_penalty=1.2)


@dataclass
class Transcript:
    ids: list[list[int]] = field(default_factory=list)
    reused: list[int] = field(default_factory=list)
    logits: list[torch.Tensor] = field(default_factory=list)


def drive(backend, params: SamplingParams, seed: int, tokens: int = 40, cancel_after: int = 7) -> Transcript:
    """Three turns: a first reply; a second prompt that keeps only half of it (the rest of the cache is stale), cut
    short after ``cancel_after`` ids as a cancel would; a third prompt that keeps all of that."""
    backend.reset()
    out = Transcript()
    generator = torch.Generator(device=backend.device).manual_seed(seed)
    seen = torch.zeros(backend.vocab_size, dtype=torch.bool, device=backend.device)

    def turn(prompt: list[int], limit: int) -> list[int]:
        logits, reused = backend.prefill(prompt)
        out.reused.append(reused)
        out.logits.append(logits.float().cpu())
        seen[torch.tensor(prompt, device=backend.device)] = True
        ids = []
        for _ in range(limit):
            token = choose(logits, params, None, seen, generator)
            seen[token] = True
            ids.append(token)
            logits = backend.step(token)
            out.logits.append(logits.float().cpu())
        out.ids.append(ids)
        return ids

    first_prompt = [BOS_ID, HUMAN_ID, 306, 763, 263, 1243, 29889, MMGPT_ID, 529]
    first = turn(first_prompt, tokens)
    second_prompt = first_prompt + first[: tokens // 2] + [END_OF_HUMAN_ID, 1724, 338, MMGPT_ID]
    second = turn(second_prompt, cancel_after)  # cancelled: the loop stops stepping
    third_prompt = second_prompt + second + [END_OF_HUMAN_ID, 3869, 29973, MMGPT_ID]
    turn(third_prompt, tokens)
    return out


def assert_same(reference: Transcript, candidate: Transcript, atol: float) -> None:
    assert candidate.ids == reference.ids
    assert candidate.reused == reference.reused
    assert reference.reused[1] > 9 and reference.reused[2] > reference.reused[1]  # the prefix really was reused
    assert len(candidate.logits) == len(reference.logits)
    for a, b in zip(reference.logits, candidate.logits):
        torch.testing.assert_close(b, a, atol=atol, rtol=1e-4)


def _tiny_tokenizer():
    from anygpt_desktop.protocol.text_tokenizer import AnyGPTTokenizer
    from anygpt_desktop.protocol.vocab import Vocabulary

    sp_model = pkg_resources.files("anygpt_desktop.tiny_kit").joinpath("data", "llama2_tokenizer.model")
    return AnyGPTTokenizer(str(sp_model), Vocabulary.chat_layout())


def _small_llm(**config_fields) -> LoadedLLM:
    """A two-layer random LLaMA with the chat vocabulary and the given config fields (GQA, RoPE variants)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    fields = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4, vocab_size=53520, max_position_embeddings=2048)
    fields.update(config_fields)
    model = LlamaForCausalLM(LlamaConfig(**fields)).eval()
    with torch.no_grad():  # larger weights than the default init, so logits differ clearly between ids
        for name, p in model.named_parameters():
            if not name.endswith("norm.weight"):
                p.normal_(0, 0.15)
    return LoadedLLM(model, _tiny_tokenizer(), torch.device("cpu"), torch.float32, Path("random"))


@pytest.fixture(scope="module")
def tiny_llm(tiny_models: Path) -> LoadedLLM:
    return load_llm(tiny_models / "AnyGPT-chat", device="cpu")


@pytest.fixture(scope="module")
def reference_runs(tiny_llm) -> dict[str, Transcript]:
    return {
        "greedy": drive(HFEagerBackend(tiny_llm), GREEDY, seed=0),
        "sampled": drive(HFEagerBackend(tiny_llm), SAMPLED, seed=5),
    }


@pytest.mark.parametrize("kind", ["greedy", "sampled"])
def test_static_eager_step_gives_the_hf_ids_and_logits_on_the_tiny_kit(tiny_llm, reference_runs, kind):
    params, seed = (GREEDY, 0) if kind == "greedy" else (SAMPLED, 5)
    backend = StaticCacheBackend(tiny_llm, context=160)
    assert_same(reference_runs[kind], drive(backend, params, seed), atol=1e-5)


@pytest.mark.parametrize(
    "config",
    [
        dict(num_key_value_heads=2),
        dict(num_key_value_heads=1, rope_theta=500000.0),
        dict(num_key_value_heads=2, rope_scaling={"rope_type": "linear", "factor": 2.0}),
        dict(rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 64}, rope_theta=500000.0),
    ],
    ids=["gqa", "mqa-theta", "gqa-linear-rope", "llama3-rope"],
)
def test_grouped_query_attention_and_rope_variants_match_hf(config):
    llm = _small_llm(**config)
    assert_same(drive(HFEagerBackend(llm), SAMPLED, seed=2), drive(StaticCacheBackend(llm, context=160), SAMPLED, seed=2), atol=1e-5)


def test_weights_are_the_hf_modules_not_copies(tiny_llm):
    backend = StaticCacheBackend(tiny_llm, context=32)
    hf = tiny_llm.model
    assert backend.model.embed_tokens is hf.model.embed_tokens and backend.model.lm_head is hf.lm_head
    assert backend.model.layers[1].self_attn.q_proj is hf.model.layers[1].self_attn.q_proj
    hf_pointers = {p.data_ptr() for p in hf.parameters()}
    assert {p.data_ptr() for p in backend.model.parameters()} <= hf_pointers


def test_a_replaced_linear_module_is_used():
    """A weight-only-quantised Linear swapped into the HF model (here: one that doubles its output) is what runs."""
    llm = _small_llm()
    backend = StaticCacheBackend(llm, context=32)
    before, _ = backend.prefill([1, 2, 3])

    class Doubled(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return 2 * self.inner(x)

    llm.model.lm_head = Doubled(llm.model.lm_head)
    backend = StaticCacheBackend(llm, context=32)
    after, _ = backend.prefill([1, 2, 3])
    torch.testing.assert_close(after, 2 * before)


def test_step_takes_a_device_tensor_and_keeps_the_ids(tiny_llm):
    backend = StaticCacheBackend(tiny_llm, context=32)
    logits, reused = backend.prefill([1, 5, 9])
    assert reused == 0 and logits.shape == (tiny_llm.vocab_size,)
    backend.step(torch.tensor(77))
    backend.step(torch.tensor([78]))
    backend.step(79)
    assert backend.cached_ids() == [1, 5, 9, 77, 78, 79]
    _, reused = backend.prefill([1, 5, 9, 77, 78, 79, 80])
    assert reused == 6
    _, reused = backend.prefill([1, 5, 9, 77, 78, 79])  # the same ids again: the last one is recomputed
    assert reused == 5 and backend.cached_ids() == [1, 5, 9, 77, 78, 79]
    backend.reset()
    assert backend.cached_ids() == []


def test_the_context_limit_is_a_clear_error(tiny_llm):
    backend = StaticCacheBackend(tiny_llm, context=8)
    with pytest.raises(ContextFullError, match="context"):
        backend.prefill(list(range(1, 9)))
    backend.prefill([1, 2, 3, 4, 5, 6])
    backend.step(7)
    backend.step(8)  # the last position
    with pytest.raises(ContextFullError, match="context"):
        backend.step(9)
    assert backend.cached_ids() == [1, 2, 3, 4, 5, 6, 7, 8]


def test_a_failed_forward_leaves_an_empty_cache(tiny_llm, monkeypatch):
    backend = StaticCacheBackend(tiny_llm, context=32)
    backend.prefill([1, 2, 3])

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(backend.model, "forward", broken)
    with pytest.raises(RuntimeError):
        backend.step(4)
    assert backend.cached_ids() == []
    with pytest.raises(RuntimeError):
        backend.prefill([1, 2, 3, 4])
    assert backend.cached_ids() == []


def test_kv_cache_bytes_is_the_allocated_size_and_the_7b_figure(tiny_llm):
    from transformers import LlamaConfig

    from anygpt_desktop.engine.llm_manifest import ANYGPT_CHAT_CONFIG

    backend = StaticCacheBackend(tiny_llm, context=100)
    assert backend.cache_bytes == kv_cache_bytes(tiny_llm.model.config, 100, torch.float32)
    full = LlamaConfig(**{k: v for k, v in ANYGPT_CHAT_CONFIG.items() if not k.startswith("_")})
    assert kv_cache_bytes(full, 4096, torch.bfloat16) == 2 * 2**30  # 2 x 32 layers x 4096 positions x 4096 x 2 B
    gqa = LlamaConfig(hidden_size=64, num_attention_heads=8, num_key_value_heads=2, num_hidden_layers=3)
    assert kv_cache_bytes(gqa, 10, torch.float16) == 2 * 3 * 2 * 8 * 10 * 2


def test_modes_and_defaults(tiny_llm):
    assert default_decode_mode(torch.device("cpu")) == "eager"
    assert default_decode_mode(torch.device("cuda")) == "compiled"
    backend = make_backend(tiny_llm, context=16)
    assert not backend.compiled and backend.compile_error is None
    with pytest.raises(ValueError, match="decode mode"):
        make_backend(tiny_llm, "fast")  # type: ignore[arg-type]


def test_a_compile_failure_falls_back_to_the_eager_step(tiny_llm, reference_runs, monkeypatch):
    def broken_compile(*args, **kwargs):
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", broken_compile)
    progress = []
    backend = make_backend(tiny_llm, "compiled", context=160, progress=lambda m, f: progress.append(f))
    assert not backend.compiled and "no C++ compiler" in backend.compile_error
    assert backend.cached_ids() == []
    assert_same(reference_runs["greedy"], drive(backend, GREEDY, seed=0), atol=1e-5)


def test_a_failure_of_the_compiled_step_later_falls_back_too(tiny_llm, reference_runs):
    backend = StaticCacheBackend(tiny_llm, context=160)

    def failing(token, position):
        raise RuntimeError("recompilation failed")

    backend._compiled = failing  # as if compiled at load; it breaks on first use
    assert_same(reference_runs["greedy"], drive(backend, GREEDY, seed=0), atol=1e-5)
    assert not backend.compiled and "recompilation failed" in backend.compile_error


@pytest.mark.slow
def test_compiled_step_gives_the_hf_ids_on_the_tiny_kit(tiny_llm, reference_runs, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "unused"))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR")  # unset for this test, restored afterwards
    expected_cache = compile_cache_dir()
    assert expected_cache == tmp_path / "xdg_cache" / "anygpt-desktop" / "inductor"
    progress = []
    backend = make_backend(tiny_llm, "compiled", context=160, progress=lambda m, f: progress.append(f))
    assert backend.compiled, backend.compile_error
    assert progress and progress[-1] == 1.0 and backend.cached_ids() == []
    assert expected_cache.is_dir() and any(expected_cache.iterdir())  # inductor wrote its cache there
    assert_same(reference_runs["greedy"], drive(backend, GREEDY, seed=0), atol=1e-5)
    assert_same(reference_runs["sampled"], drive(backend, SAMPLED, seed=5), atol=1e-5)
    assert backend.compiled and backend.compile_error is None  # no fallback happened on the way


@pytest.fixture(scope="module")
def full_width_llm():
    """Four layers of LLaMA-2-7B's AnyGPT shape (hidden 4096, 32 heads, MLP 11008, 53,520 ids), random, fp32: 5 GB
    (the embedding and the head alone are 1.75 GB). On a shared machine run it under ``flock /tmp/fullsize.lock``."""
    return random_llm(torch.device("cpu"), torch.float32, layers=4)


@pytest.mark.slow
def test_full_width_model_static_eager_and_compiled_match_hf(full_width_llm):
    """Short turns (12 ids): at full width each HF step costs about a second on two CPU cores."""
    reference = {
        "greedy": drive(HFEagerBackend(full_width_llm), GREEDY, seed=0, tokens=12, cancel_after=4),
        "sampled": drive(HFEagerBackend(full_width_llm), SAMPLED, seed=5, tokens=12, cancel_after=4),
    }
    static = StaticCacheBackend(full_width_llm, context=128)
    assert_same(reference["greedy"], drive(static, GREEDY, seed=0, tokens=12, cancel_after=4), atol=1e-4)
    assert_same(reference["sampled"], drive(static, SAMPLED, seed=5, tokens=12, cancel_after=4), atol=1e-4)
    del static
    compiled = make_backend(full_width_llm, "compiled", context=128)
    assert compiled.compiled, compiled.compile_error
    assert_same(reference["greedy"], drive(compiled, GREEDY, seed=0, tokens=12, cancel_after=4), atol=1e-4)
    assert_same(reference["sampled"], drive(compiled, SAMPLED, seed=5, tokens=12, cancel_after=4), atol=1e-4)
