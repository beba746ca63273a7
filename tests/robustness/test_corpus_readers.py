"""Every corpus file through the file readers and the attachment check: a clear error or a usable result, never
another exception (the fast tier of the robustness report; the full report, with the engine and the CLIs, is in
test_robustness_report.py)."""

from __future__ import annotations

import pytest

from anygpt_desktop.audio.files import SPEECH_INPUT_MAX_SECONDS
from anygpt_desktop.modalities.image.image_input import MAX_PIXELS
from anygpt_desktop.protocol.vocab import (
    BOS_ID,
    END_OF_HUMAN_ID,
    END_OF_MMGPT_ID,
    HUMAN_ID,
    MMGPT_ID,
    UNIT_BASE_ID,
)
from anygpt_desktop.robustness.corpus import write_corpus
from anygpt_desktop.robustness.report import (
    _clear_types,
    _file_entries,
    classify,
    run_with_deadline,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def test_the_corpus_has_every_kind_of_case(corpus) -> None:
    names = {c.name for c in corpus}
    for expected in ("audio/zero_bytes.wav", "audio/two_hours.wav", "audio/96k_6ch.wav", "audio/nan.wav",
                     "audio/tone.ogg", "audio/tone.flac", "audio/tone.opus", "image/bomb.png", "image/cmyk.jpg",
                     "image/animated.gif", "image/drawing.svg", "image/wide_20000x10.png", "path/a_folder.wav",
                     "path/loop_a.png", "path/unicode.wav", "path/dotdot.png", "text/1 MB", "text/invalid UTF-8",
                     "text/NUL", "text/token <eos>", "history/corrupt database"):
        assert expected in names
    two_hours = next(c for c in corpus if c.name == "audio/two_hours.wav").path
    assert two_hours.stat().st_size > 200e6 and two_hours.stat().st_blocks * 512 < 10e6  # sparse: no disk used


def test_every_file_gets_a_clear_error_or_is_read(corpus) -> None:
    clear = _clear_types()
    outcomes = []
    for case in corpus:
        if case.kind not in ("audio", "image", "path"):
            continue
        for entry, call in _file_entries(case, case.media or case.kind).items():
            kind, value = run_with_deadline(call, 120)
            outcomes.append(classify(case, entry, kind, value, clear.get(entry, ())))
    bad = [o.line() for o in outcomes if o.status in ("crash", "hang")]
    assert not bad, "\n".join(bad)
    # what must be refused by the readers is refused, and the limits are named
    by = {(o.case, o.entry): o for o in outcomes}
    for name in ("audio/zero_bytes.wav", "audio/truncated_header.wav", "audio/text_named.wav", "audio/nan.wav"):
        assert by[(name, "read_audio")].status == "error"
    assert f"the limit is {SPEECH_INPUT_MAX_SECONDS / 60:.0f} min" in by[("audio/two_hours.wav", "read_audio")].message
    assert f"the limit is {MAX_PIXELS / 1e6:.0f} megapixels" in by[("image/bomb.png", "open_image")].message
    for name in ("path/a_folder.wav", "path/a_folder.png"):
        assert all("is a folder" in o.message for (c, _), o in by.items() if c == name)
    assert all("symbolic link loop" in o.message for (c, _), o in by.items() if c.startswith("path/loop_a"))
    for name in ("image/cmyk.jpg", "image/grey16.png", "image/palette_alpha.png", "image/animated.gif",
                 "image/wide_20000x10.png", "image/one_pixel.png", "path/unicode.png", "path/dotdot.png"):
        assert by[(name, "open_image")].status == "accepted", by[(name, "open_image")].line()
    for name in ("audio/pcm_u8.wav", "audio/pcm_24.wav", "audio/float64.wav", "audio/96k_6ch.wav", "audio/tone.ogg",
                 "audio/tone.flac", "audio/tone.opus", "path/spaces.wav"):
        assert by[(name, "read_audio")].status == "accepted", by[(name, "read_audio")].line()


def test_a_thread_past_its_deadline_is_a_hang() -> None:
    import threading

    release = threading.Event()
    kind, _ = run_with_deadline(lambda: release.wait(30), 0.05)
    release.set()
    assert kind == "hang"




def test_the_checks_can_fail(tmp_path) -> None:
    """The stray-write and injection checks flag what they exist to flag."""
    from anygpt_desktop.robustness.report import Harness, Sandbox, _RecordingLoop

    box = Sandbox(tmp_path / "sandbox", watched=[])
    box.mark()
    (box.out / "reply.wav").write_bytes(b"ok")
    assert box.changes() == []
    (box.work / "stray.txt").write_text("x")
    (box.home / ".cache").mkdir()
    (box.home / ".cache" / "also.bin").write_bytes(b"x")
    assert box.changes() == ["sandbox/home/.cache/also.bin", "sandbox/work/stray.txt"]

    harness = object.__new__(Harness)
    harness.recorder = _RecordingLoop(None)
    harness._baselines = {}
    unit = UNIT_BASE_ID["image"] + 7996  # an image unit
    baseline = [BOS_ID, HUMAN_ID, 29871, END_OF_HUMAN_ID, MMGPT_ID]

    def make(_text: str) -> None:
        harness.recorder.prompts.append(baseline)

    assert harness.injected("turn text", make, [BOS_ID, HUMAN_ID, 450, 29871, END_OF_HUMAN_ID, MMGPT_ID]) == []
    assert harness.injected("turn text", make, [BOS_ID, HUMAN_ID, END_OF_MMGPT_ID, 29871, END_OF_HUMAN_ID, MMGPT_ID, unit]) == [END_OF_MMGPT_ID, unit]
