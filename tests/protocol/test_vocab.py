import json
import shutil
from pathlib import Path

import pytest

from anygpt_desktop.protocol.vocab import (
    CHAT_VOCAB_SIZE,
    EXPECTED_IDS,
    Vocabulary,
    VocabularyError,
    anygpt_added_tokens,
    unit_token,
)


def test_layout_matches_the_spec_table():
    assert CHAT_VOCAB_SIZE == 53520
    expected = {
        "[Human]": 32000, "[MMGPT]": 32001, "<eoh>": 32002, "<eos>": 32003,
        "<👀0>": 32004, "<👀8191>": 40195, "<soim>": 40196, "<eoim>": 40197,
        "<🗣️0>": 40198, "<🗣️1023>": 41221, "<sosp>": 41222, "<eosp>": 41223,
        "<🎶0>": 41224, "<🎶8191>": 49415, "<somu>": 49416, "<eomu>": 49417,
        "<👂0>": 49418, "<👂4095>": 53513, "<soau>": 53514, "<eoau>": 53515,
        "<eom>": 53516, "[AnyGPT]": 53517, "<-Res->": 53518, "<-Ins->": 53519,
    }
    for token, token_id in expected.items():
        assert EXPECTED_IDS[token] == token_id, token


def test_speech_emoji_has_the_variation_selector():
    token = unit_token("speech", 5)
    assert token == "<\U0001F5E3\uFE0F5>"
    assert len(token.encode("utf-8")) == 1 + 7 + 1 + 1


def test_unit_out_of_range_is_refused():
    with pytest.raises(ValueError):
        unit_token("image", 8192)


def _write_added(folder: Path, added: dict[str, int], vocab_size: int | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "added_tokens.json").write_text(json.dumps(added, ensure_ascii=False), encoding="utf-8")
    if vocab_size is not None:
        (folder / "config.json").write_text(json.dumps({"vocab_size": vocab_size}))
    return folder


def test_released_chat_folder_is_accepted(reference_dir):
    vocab = Vocabulary.from_folder(reference_dir / "golden" / "tokenizer")
    assert vocab.size == 53520
    assert vocab.id("<-Ins->") == 53519


def test_base_model_without_sft_tokens_is_read_not_assumed(tmp_path):
    tokens = anygpt_added_tokens()[:-4]  # the base model may lack <eom>, [AnyGPT], <-Res->, <-Ins->
    folder = _write_added(tmp_path / "base", {t: 32000 + i for i, t in enumerate(tokens)}, vocab_size=53516)
    vocab = Vocabulary.from_folder(folder)
    assert vocab.size == 53516
    assert not vocab.has("<-Res->")
    with pytest.raises(VocabularyError, match="no token"):
        vocab.id("<-Res->")


def test_wrong_id_is_named(tmp_path):
    added = {t: 32000 + i for i, t in enumerate(anygpt_added_tokens())}
    added["<sosp>"], added["<eosp>"] = added["<eosp>"], added["<sosp>"]
    folder = _write_added(tmp_path / "bad", added)
    with pytest.raises(VocabularyError, match=r"'<sosp>' has id 41223, the AnyGPT layout has 41222"):
        Vocabulary.from_folder(folder)


def test_config_vocab_size_mismatch(tmp_path):
    added = {t: 32000 + i for i, t in enumerate(anygpt_added_tokens())}
    folder = _write_added(tmp_path / "cfg", added, vocab_size=32000)
    with pytest.raises(VocabularyError, match="vocab_size 32000"):
        Vocabulary.from_folder(folder)


def test_too_small_vocabulary(tmp_path):
    tokens = anygpt_added_tokens()[:100]
    folder = _write_added(tmp_path / "small", {t: 32000 + i for i, t in enumerate(tokens)})
    with pytest.raises(VocabularyError, match="required tokens missing"):
        Vocabulary.from_folder(folder)


def test_tokenizer_config_only_folder(tmp_path, reference_dir):
    folder = tmp_path / "cfgonly"
    folder.mkdir()
    shutil.copy(reference_dir / "golden" / "tokenizer" / "tokenizer_config.json", folder)
    assert Vocabulary.from_folder(folder).size == 53520


def test_empty_folder(tmp_path):
    with pytest.raises(VocabularyError, match="neither added_tokens.json nor tokenizer_config.json"):
        Vocabulary.from_folder(tmp_path)


def test_named_ids_pin_the_layout():
    from anygpt_desktop.protocol import vocab

    assert (vocab.UNK_ID, vocab.BOS_ID, vocab.EOS_ID) == (0, 1, 2)
    assert vocab.TEXT_ID_RANGE == (3, 32000) and vocab.FIRST_TEXT_ID == 3
    assert vocab.COLON_ID == 584
    assert vocab.FIRST_UNIT_ID == 32004
    assert (vocab.HUMAN_ID, vocab.MMGPT_ID, vocab.END_OF_HUMAN_ID, vocab.END_OF_MMGPT_ID) == (32000, 32001, 32002, 32003)
    assert (vocab.END_OF_MESSAGE_ID, vocab.ANYGPT_ID, vocab.RESPONSE_SEP_ID, vocab.INSTRUCTION_SEP_ID) == (
        53516, 53517, 53518, 53519)
    assert vocab.ROLE_IDS == (32000, 32001, 53517)
    assert vocab.END_OF_TURN_IDS == (32003, 53516, 2)
    assert vocab.UNIT_BASE_ID == {"image": 32004, "speech": 40198, "music": 41224, "audio": 49418}
    assert vocab.SPAN_IDS == {"image": (40196, 40197), "speech": (41222, 41223), "music": (49416, 49417),
                              "audio": (53514, 53515)}
