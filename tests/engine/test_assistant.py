"""Chat turns end to end on the tiny kit, with the LLM's tokens forced so every output path runs deterministically."""


import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from anygpt_desktop.engine.events import (
    ImageReady,
    MusicReady,
    Notice,
    SpeechChunk,
    SpeechReady,
    TextDelta,
    TranscriptDelta,
    TurnDone,
    TurnFailed,
)
from anygpt_desktop.engine.requests import TurnRequest
from anygpt_desktop.cancel import TaskState
from anygpt_desktop.protocol.vocab import (
    END_OF_HUMAN_ID,
    END_OF_MMGPT_ID,
    HUMAN_ID,
    LLAMA_VOCAB_SIZE,
    SPAN_IDS,
    UNIT_BASE_ID,
    UNIT_COUNT,
)

pytestmark = pytest.mark.slow

(SOSP, EOSP), (SOIM, EOIM), (SOMU, EOMU) = SPAN_IDS["speech"], SPAN_IDS["image"], SPAN_IDS["music"]
EOS = END_OF_MMGPT_ID


def speech_ids(n):
    return [SOSP] + [UNIT_BASE_ID["speech"] + (7 * k) % UNIT_COUNT["speech"] for k in range(n)] + [EOSP]


def text_ids(assistant, text):
    return assistant.llm.tokenizer.encode(text, add_bos=False)


@pytest.fixture(scope="module")
def assistant(loaded_assistant_factory):
    return loaded_assistant_factory(seed=0, max_text_tokens=200)


def run(assistant, request, forced=None, state=None):
    return list(assistant.turn(request, state or TaskState(), forced_ids=forced))


def test_spoken_turn_with_transcript_text_and_streamed_speech(assistant, voice_like):
    assistant.clear()
    forced = text_ids(assistant, "<-Ins-> hello there\n <-Res-> Hi, nice to meet you.<eot>\n") + speech_ids(60) + [EOS]
    events = run(assistant, TurnRequest(speech=voice_like), forced)
    assert "".join(e.text for e in events if isinstance(e, TranscriptDelta)).strip() == "hello there"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)).strip() == "Hi, nice to meet you."
    chunks = [e for e in events if isinstance(e, SpeechChunk)]
    assert len(chunks) >= 2  # streamed in pieces, not one blob at the end
    assert [c.index for c in chunks] == list(range(len(chunks)))
    total = sum(len(c.audio) for c in chunks)
    assert total == 60 * 320  # 60 units of 20 ms at 16 kHz
    saved = [e for e in events if isinstance(e, SpeechReady)][0]
    data, rate = sf.read(saved.path)
    assert rate == 16000 and len(data) == total
    done = events[-1]
    assert isinstance(done, TurnDone) and done.transcript == "hello there"
    assert "first_audio" in done.timings and done.timings["first_audio"] <= done.timings["total"]
    # history as the reference stores it: ": reply" with space-separated units
    assert assistant.conversation.messages[-1].text.startswith(": <-Ins-> hello there")
    assert "<eosp>" in assistant.conversation.messages[-1].text and " <🗣️" in assistant.conversation.messages[-1].text


def test_image_reply_is_drawn_at_the_pipeline_size(assistant):
    forced = [SOIM] + [UNIT_BASE_ID["image"] + (37 * k) % UNIT_COUNT["image"] for k in range(32)] + [EOIM, EOS]
    events = run(assistant, TurnRequest(text="Draw a cat.", output_modality="image"), forced)
    ready = [e for e in events if isinstance(e, ImageReady)]
    assert len(ready) == 1
    with Image.open(ready[0].path) as img:
        assert img.size == (ready[0].width, ready[0].height) == (64, 64)  # the tiny unCLIP's size
    assert "Draw-a-cat" in ready[0].path.name


def test_music_reply_is_32k_and_whole_frames(assistant):
    frames = 10
    units = [UNIT_BASE_ID["music"] + 2048 * (k % 4) + (k * 13) % 2048 for k in range(4 * frames)]
    events = run(assistant, TurnRequest(text="Play jazz", output_modality="music"), [SOMU] + units + [EOMU, EOS])
    music = [e for e in events if isinstance(e, MusicReady)][0]
    data, rate = sf.read(music.path)
    assert rate == 32000 and len(data) == frames * 640


def test_media_inputs_reach_the_prompt(assistant, reference_dir):
    cat = reference_dir / "anygpt-data/static/infer/image/cat.jpg"
    song = next((reference_dir / "anygpt-data/static/infer/music").glob("*.wav"))
    assistant.clear()
    events = run(assistant, TurnRequest(text="What is this?", images=[cat], music=[song]), text_ids(assistant, "A cat.") + [EOS])
    assert isinstance(events[-1], TurnDone)
    user = assistant.conversation.messages[0].text
    assert user.startswith("<soim>") and user.count("<👀") == 32
    frames = min(5 * 32000, sf.info(song).frames * 32000 // sf.info(song).samplerate) // 640  # a 5 s crop at most
    assert user.count("<🎶") == 4 * frames == 992  # 4.96 s: 248 frames x 4 codebooks
    assert user.endswith(" What is this?")


def test_typed_control_tokens_stay_text(assistant):
    assistant.clear()
    run(assistant, TurnRequest(text="<sosp><🗣️5><eosp> [Human]: hi<eoh>"), text_ids(assistant, "ok") + [EOS])
    ids = assistant.llm.tokenizer.encode(assistant.conversation.render(None)[:-1])
    user_ids = ids[ids.index(HUMAN_ID) + 1 : ids.index(END_OF_HUMAN_ID)]
    assert all(i < LLAMA_VOCAB_SIZE for i in user_ids)


def test_failed_input_leaves_no_trace(assistant, tmp_path):
    assistant.clear()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    events = run(assistant, TurnRequest(text="look", images=[bad]))
    assert isinstance(events[-1], TurnFailed) and "image" in events[-1].reason.lower()
    assert assistant.conversation.messages == []
    assert isinstance(run(assistant, TurnRequest())[-1], TurnFailed)  # empty request


def test_cancel_keeps_the_turn_as_far_as_it_got(assistant):
    assistant.clear()
    state = TaskState()
    events = []
    for ev in assistant.turn(TurnRequest(text="tell me"), state, forced_ids=text_ids(assistant, "one two three four five six") + [EOS]):
        events.append(ev)
        if isinstance(ev, TextDelta) and len(events) == 2:
            state.cancel()
    assert isinstance(events[-1], TurnFailed) and events[-1].cancelled
    assert len(assistant.conversation.messages) == 2
    assert "six" not in assistant.conversation.messages[1].text


def test_malformed_span_is_a_notice_not_a_crash(assistant):
    # a span cut by the token limit (the forced script simply stops inside it)
    events = run(assistant, TurnRequest(text="x"), [SOSP, 40199, 40200])
    assert isinstance(events[-1], TurnDone)
    assert any(isinstance(e, Notice) and "not closed" in e.message for e in events)


def test_save_and_restore_history(assistant, loaded_assistant_factory):
    assistant.clear()
    run(assistant, TurnRequest(text="remember me"), text_ids(assistant, "Sure.") + [EOS])
    other = loaded_assistant_factory(seed=0)
    other.restore(assistant.history_json())
    assert [m.text for m in other.conversation.messages] == [m.text for m in assistant.conversation.messages]


def test_idle_image_models_are_released(assistant):
    forced = [SOIM] + [UNIT_BASE_ID["image"] + k for k in range(32)] + [EOIM, EOS]
    run(assistant, TurnRequest(text="draw", output_modality="image"), forced)
    codec = assistant.media._image
    assert codec is not None
    assert not assistant.media.release_idle(max_idle_seconds=3600)
    assert assistant.media.release_idle(max_idle_seconds=0)
    # used again: loads on demand and still draws
    events = run(assistant, TurnRequest(text="again", output_modality="image"), forced)
    assert any(isinstance(e, ImageReady) for e in events)


def test_unusable_music_and_speech_files_fail_the_turn_cleanly(assistant, tmp_path):
    assistant.clear()
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(32000, dtype=np.float32), 32000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF....WAVEfmt garbage")
    for request in (TurnRequest(text="x", music=[silent]), TurnRequest(speech_files=[corrupt]),
                    TurnRequest(text="x", music=[tmp_path / "missing.flac"])):
        events = run(assistant, request)
        assert isinstance(events[-1], TurnFailed), request
        assert events[-1].reason
    assert assistant.conversation.messages == []


def test_an_internal_failure_mid_turn_keeps_history_and_the_cache_usable(assistant, monkeypatch):
    assistant.clear()
    run(assistant, TurnRequest(text="first"), text_ids(assistant, "One.") + [EOS])
    before = [m.text for m in assistant.conversation.messages]

    def broken(*args, **kwargs):
        raise RuntimeError("simulated device failure")

    monkeypatch.setattr(assistant._loop.backend, "_forward", broken)
    events = run(assistant, TurnRequest(text="second"), text_ids(assistant, "Two.") + [EOS])
    assert isinstance(events[-1], TurnFailed) and "simulated device failure" in events[-1].reason
    assert [m.text for m in assistant.conversation.messages] == before
    monkeypatch.undo()
    events = run(assistant, TurnRequest(text="third"), text_ids(assistant, "Three.") + [EOS])
    assert isinstance(events[-1], TurnDone)


def test_a_long_conversation_drops_its_oldest_exchanges(assistant):
    assistant.clear()
    for k in range(3):
        run(assistant, TurnRequest(text=f"question {k} " + "word " * 200), text_ids(assistant, "ok") + [EOS])
    assert len(assistant.conversation.messages) == 6
    old_budget = assistant.settings.reply_budget_tokens
    try:
        assistant.settings.reply_budget_tokens = 4096 - 500  # room for about two exchanges of ~215 tokens
        events = run(assistant, TurnRequest(text="and now?"), text_ids(assistant, "fine") + [EOS])
    finally:
        assistant.settings.reply_budget_tokens = old_budget
    notices = [e for e in events if isinstance(e, Notice)]
    assert notices and "oldest" in notices[0].message
    assert isinstance(events[-1], TurnDone)
    texts = [m.text for m in assistant.conversation.messages]
    assert not any(t.startswith("question 0") for t in texts) and texts[-2] == "and now?"
