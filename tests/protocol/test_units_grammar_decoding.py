import random

import pytest

from anygpt_desktop.protocol.cli_grammar import LineError, parse_base_line, parse_chat_line
from anygpt_desktop.protocol.decoding import base_config_name, chat_config_name, effective_config
from anygpt_desktop.protocol.instructions import choose_instruction, other2text_instructions, task_prompts
from anygpt_desktop.protocol.units import (
    UnitSpanError,
    check_image_units,
    music_codes_to_units,
    music_units_to_codes,
    units_to_string,
)


def test_unit_strings_have_no_spaces():
    assert units_to_string("speech", [5, 17]) == "<sosp><🗣️5><🗣️17><eosp>"
    assert units_to_string("image", [0]) == "<soim><👀0><eoim>"


def test_music_is_frame_major_with_layer_offsets():
    codes = [[1, 2], [3, 4], [5, 6], [7, 8]]
    units = music_codes_to_units(codes)
    assert units == [1, 2051, 4101, 6151, 2, 2052, 4102, 6152]
    assert music_units_to_codes(units) == codes


def test_music_strict_refuses_partial_frames_and_wrong_phase():
    with pytest.raises(UnitSpanError, match="not whole frames"):
        music_units_to_codes([1, 2049, 4097, 6145, 2])
    with pytest.raises(UnitSpanError, match="out of phase"):
        music_units_to_codes([2049, 1, 4097, 6145])


def test_music_lenient_is_the_reference_rule():
    # % 2048 and the trailing partial frame dropped (reference-behaviour §6)
    assert music_units_to_codes([2049, 1, 4097, 6145, 7], strict=False) == [[1], [1], [1], [1]]


def test_image_needs_32_units():
    check_image_units(list(range(32)))
    with pytest.raises(UnitSpanError, match="31 units"):
        check_image_units(list(range(31)))


def test_chat_line_grammar_in_code_order():
    line = parse_chat_line("interleaved|Hi there|speech|voice.wav|a.jpg,b.png|q.wav|m.wav")
    assert (line.text, line.output_modality, line.voice_prompt) == ("Hi there", "speech", "voice.wav")
    assert line.images == ("a.jpg", "b.png") and line.speech == ("q.wav",) and line.music == ("m.wav",)
    assert parse_chat_line("|clear").clear
    assert parse_chat_line("quit").quit
    assert parse_chat_line("just typed text").text == "just typed text"
    assert parse_chat_line("interleaved|x|nonsense").output_modality == "text"


def test_base_line_grammar():
    line = parse_base_line("text|speech|Good morning.|voice.wav")
    assert (line.modality, line.to_modality, line.data, line.voice_prompt) == ("text", "speech", "Good morning.", "voice.wav")
    with pytest.raises(LineError, match="unsupported task audio"):
        parse_base_line("audio|text|x.wav")
    with pytest.raises(LineError, match="expected"):
        parse_base_line("text")


def test_effective_configs_follow_4_34_semantics():
    chat = effective_config(chat_config_name("text"))
    assert (chat["num_beams"], chat["top_k"], chat["max_new_tokens"], chat["eos_token_id"]) == (5, 50, 500, None)
    music = effective_config(base_config_name("music"))
    assert (music["top_k"], music["repetition_penalty"], music["max_new_tokens"]) == (200, 1.15, 2000)
    assert effective_config("speech")["vc_steps"] == 4  # stored but never read (reference-behaviour §10.3)


def test_instruction_choice_is_seedable():
    a = choose_instruction("other2text", "speech", rng=random.Random(7))
    b = choose_instruction("other2text", "speech", rng=random.Random(7))
    assert a == b and a in other2text_instructions()["speech"]
    assert choose_instruction("text2other", "image", index=0) == "What image comes to mind from this text?"
    with pytest.raises(ValueError):
        choose_instruction("other2text", "smell")


def test_task_prompts_later_duplicates_win():
    assert task_prompts()["Text-to-Speech"] == "{caption} Please read the given text."
    assert len(task_prompts()) == 20
