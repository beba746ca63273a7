"""``anygpt-desktop bench image --models DIR`` without an unCLIP folder refuses instead of timing another model."""

from anygpt_desktop.cli import main


def test_bench_image_refuses_a_models_folder_without_unclip(tmp_path, capsys):
    (tmp_path / "speechtokenizer").mkdir()  # a models folder, but no stable-diffusion-2-1-unclip in it
    assert main(["bench", "image", "--models", str(tmp_path)]) == 2
    out = capsys.readouterr().out
    assert "refused" in out and "stable-diffusion-2-1-unclip" in out
    assert "SEED encode" not in out  # nothing was timed
