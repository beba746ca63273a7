"""The tiny AnyGPT-chat folder: released layout, loadable by transformers, exact tokenizer files, deterministic."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from anygpt_desktop.tiny_kit import added_tokens, make_tiny
from anygpt_desktop.tiny_kit.llm import TINY_LLM_CONFIG, write_tiny_llm
from anygpt_desktop.protocol.vocab import (
    BOS_ID,
    END_OF_HUMAN_ID,
    EOS_ID,
    EXPECTED_IDS,
    HUMAN_ID,
    LLAMA_VOCAB_SIZE,
    SPAN_IDS,
    UNIT_BASE_ID,
)


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_tiny(tmp_path_factory.mktemp("llm_kit"), seed=0, components=["llm"])
    return root / "AnyGPT-chat"


def test_added_token_layout_matches_spec() -> None:
    tokens = added_tokens.added_token_strings()
    ids = {tok: LLAMA_VOCAB_SIZE + i for i, tok in enumerate(tokens)}
    assert len(tokens) == 21520 and added_tokens.vocab_size() == 53520
    assert ids == EXPECTED_IDS  # the kit writes the protocol's layout (whose values tests/protocol pins)
    assert ids["<\U0001f4424095>"] == 53513 and ids["<eoau>"] == 53515
    assert tokens[-4:] == ["<eom>", "[AnyGPT]", "<-Res->", "<-Ins->"]
    assert len("\U0001f5e3\ufe0f".encode("utf-8")) == 7


def test_generated_tokenizer_files_are_byte_identical_to_the_release(reference_dir: Path) -> None:
    golden = reference_dir / "golden" / "tokenizer"
    assert added_tokens.added_tokens_json().encode("utf-8") == (golden / "added_tokens.json").read_bytes()
    assert added_tokens.tokenizer_config_json().encode("utf-8") == (golden / "tokenizer_config.json").read_bytes()


def test_folder_has_the_released_files(llm_dir: Path) -> None:
    names = {p.name for p in llm_dir.iterdir()}
    assert names == {
        "config.json", "generation_config.json", "pytorch_model.bin", "tokenizer.model",
        "added_tokens.json", "tokenizer_config.json", "special_tokens_map.json",
    }
    assert (llm_dir / "tokenizer_config.json").read_text(encoding="utf-8") == added_tokens.tokenizer_config_json()


def test_weights_are_a_plain_state_dict_with_hf_llama_names(llm_dir: Path) -> None:
    from anygpt_desktop.engine.llm_manifest import llama_state_spec

    state = torch.load(llm_dir / "pytorch_model.bin", map_location="cpu", weights_only=True)
    spec = {k: (tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in state.items()}
    assert spec == llama_state_spec({"config_used": TINY_LLM_CONFIG})
    assert float(state["model.embed_tokens.weight"].std()) > 0


def test_transformers_loads_model_and_tokenizer(llm_dir: Path) -> None:
    from transformers import AutoTokenizer, LlamaForCausalLM, LlamaTokenizer

    model = LlamaForCausalLM.from_pretrained(llm_dir).eval()
    assert model.config.vocab_size == 53520 and model.dtype == torch.float32
    tokenizer = AutoTokenizer.from_pretrained(llm_dir)
    assert isinstance(tokenizer, LlamaTokenizer)
    assert len(tokenizer) == 53520
    assert tokenizer.convert_tokens_to_ids("<sosp>") == SPAN_IDS["speech"][0]
    assert tokenizer.convert_tokens_to_ids("<\U0001f3b62048>") == UNIT_BASE_ID["music"] + 2048
    ids = tokenizer("[Human]: hi<eoh>").input_ids
    assert ids[:2] == [BOS_ID, HUMAN_ID] and ids[-1] == END_OF_HUMAN_ID
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), 53520) and torch.isfinite(logits).all()
    assert model.generation_config.eos_token_id == EOS_ID and model.generation_config.pad_token_id == 0


def test_same_seed_same_bytes_other_seed_other_weights(tmp_path: Path, llm_dir: Path) -> None:
    again = write_tiny_llm(tmp_path / "a", seed=0)
    for path in llm_dir.iterdir():
        assert (again / path.name).read_bytes() == path.read_bytes(), path.name
    other = write_tiny_llm(tmp_path / "b", seed=1)
    assert (other / "pytorch_model.bin").read_bytes() != (llm_dir / "pytorch_model.bin").read_bytes()


def test_full_size_manifest_matches(reference_dir: Path) -> None:
    import json

    from anygpt_desktop.engine.llm_manifest import llama_state_spec
    from anygpt_desktop.verify.manifests_family import compare

    manifest = json.loads((reference_dir / "manifests" / "anygpt_chat_llama.json").read_text(encoding="utf-8"))
    assert compare(manifest["keys"], llama_state_spec(manifest)) == []
