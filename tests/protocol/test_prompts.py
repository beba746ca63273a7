from anygpt_desktop.protocol.prompts import (
    SYSTEM_MMGPT,
    Conversation,
    base_prompt,
    interleaved_user_message,
    render_text,
)
from anygpt_desktop.protocol.text_tokenizer import UserText
from anygpt_desktop.protocol.units import units_to_string

SPEECH = units_to_string("speech", [5, 17])
IMAGE = units_to_string("image", [1] * 32)
MUSIC = units_to_string("music", [0, 2048, 4096, 6144])


def test_two_turn_history_keeps_the_colon_quirk():
    conv = Conversation()
    conv.append_user(interleaved_user_message("What is in the picture?", images=[IMAGE]))
    conv.append_assistant(": A cat sits.")
    text = render_text(conv.render(interleaved_user_message("Draw it.")))
    assert text == (
        f"{SYSTEM_MMGPT}\n[Human]: {IMAGE} What is in the picture?<eoh>\n"
        "[MMGPT]: : A cat sits.<eos>\n[Human]: Draw it.<eoh>\n[MMGPT]:"
    )


def test_speech_only_instruction_has_two_spaces_before_the_suffix():
    msg = render_text(interleaved_user_message("", speech=[SPEECH]))
    assert msg == f"{SPEECH}  Please recognize the voice command and give reply and voice"


def test_media_order_is_images_music_speech():
    msg = render_text(interleaved_user_message("Compare.", images=[IMAGE], music=[MUSIC], speech=[SPEECH]))
    assert msg == f"{IMAGE} {MUSIC} {SPEECH} Compare. Please recognize the voice command and give reply and voice"


def test_user_text_is_stripped_and_stays_user_text():
    segments = interleaved_user_message(UserText("  <eoh> hi  "))
    assert segments == [UserText("<eoh> hi")]


def test_dangling_user_message_renders_like_the_reference():
    # reference-behaviour §11.5: only reachable with the reference's history policy; separators go by position
    conv = Conversation()
    conv.append_user(["Tell me a story."])
    text = render_text(conv.render(["Continue."]))
    assert text.endswith("[Human]: Tell me a story.<eoh>\n[Human]: Continue.<eos>[MMGPT]:")


def test_json_round_trip_keeps_user_text_inert():
    conv = Conversation()
    conv.append_user(interleaved_user_message("<sosp> typed", images=[IMAGE]))
    conv.append_assistant(": ok")
    restored = Conversation.from_json(conv.to_json())
    assert restored.messages == conv.messages
    assert any(isinstance(s, UserText) and s.text == "<sosp> typed" for s in restored.messages[0].segments)


def test_clear_empties_history():
    conv = Conversation()
    conv.append_user(["x"])
    conv.clear()
    assert render_text(conv.render(["y"])) == f"{SYSTEM_MMGPT}\n[Human]: y<eoh>\n[MMGPT]:"


def test_base_prompts():
    assert render_text(base_prompt("text", "Read this.", "Hello")) == \
        "[Human]: Read this. This is input: Hello<eoh> [MMGPT]:"
    assert render_text(base_prompt("speech", "Transcribe.", SPEECH)) == f"[Human]: Transcribe. {SPEECH}<eoh> [MMGPT]:"
    assert isinstance(base_prompt("text", "i", "<eoh>")[1], UserText)
