"""Image input robustness: formats, modes, orientation, size limits and broken files (all generated with PIL)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from anygpt_desktop.modalities.image.image_input import ImageInputError, open_image, to_rgb


def _gradient(w: int = 40, h: int = 30) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.uint8)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=-1), "RGB")


@pytest.mark.parametrize(
    "fmt,ext", [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp"), ("BMP", "bmp"), ("TIFF", "tif")]
)
def test_common_formats(tmp_path: Path, fmt: str, ext: str) -> None:
    path = tmp_path / f"img.{ext}"
    _gradient().save(path, fmt)
    img = open_image(path)
    assert img.mode == "RGB" and img.size == (40, 30)
    # lossy formats stay close to the source
    assert np.abs(np.asarray(img, np.int16) - np.asarray(_gradient(), np.int16)).mean() < 8


def test_gif_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=100)
    img = open_image(tmp_path / "a.gif")
    assert img.mode == "RGB"
    assert img.getpixel((10, 10)) == (255, 0, 0)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    r, g, b = open_image(tmp_path / "c.jpg").getpixel((8, 8))
    assert r > 200 and g < 60 and b < 60


def test_alpha_is_composited_on_white(tmp_path: Path) -> None:
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    img.putpixel((0, 0), (255, 0, 0, 255))
    img.save(tmp_path / "a.png")
    out = open_image(tmp_path / "a.png")
    assert out.getpixel((5, 5)) == (255, 255, 255)
    assert out.getpixel((0, 0)) == (255, 0, 0)


def test_la_and_palette_with_transparency(tmp_path: Path) -> None:
    Image.new("LA", (4, 4), (0, 0)).save(tmp_path / "la.png")
    assert open_image(tmp_path / "la.png").getpixel((1, 1)) == (255, 255, 255)
    pal = Image.new("P", (4, 4), 1)
    pal.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)
    pal.save(tmp_path / "p.png", transparency=0)
    pal.save(tmp_path / "p_opaque.png")
    assert open_image(tmp_path / "p.png").getpixel((1, 1)) == (0, 128, 0)
    assert open_image(tmp_path / "p_opaque.png").getpixel((0, 0)) == (0, 128, 0)


def test_sixteen_bit_greyscale(tmp_path: Path) -> None:
    arr = np.full((8, 8), 65535, dtype=np.uint16)
    arr[:, :4] = 0
    Image.fromarray(arr).save(tmp_path / "g16.png")
    img = open_image(tmp_path / "g16.png")
    assert img.getpixel((0, 0)) == (0, 0, 0)
    assert img.getpixel((7, 7)) == (255, 255, 255)


def test_float_image_is_scaled() -> None:
    img = to_rgb(Image.fromarray(np.array([[0.0, 0.5], [1.0, 2.0]], dtype=np.float32), "F"))
    assert img.getpixel((0, 0)) == (0, 0, 0) and img.getpixel((1, 1)) == (255, 255, 255)


def test_tiny_image(tmp_path: Path) -> None:
    Image.new("RGB", (1, 1), (1, 2, 3)).save(tmp_path / "one.png")
    assert open_image(tmp_path / "one.png").size == (1, 1)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 20, 20))  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = open_image(tmp_path / "r.jpg")
    assert out.size == (20, 40)
    assert sum(out.getpixel((10, 5))) > 600  # the white half ends up on top


def test_huge_image_refused_from_header(tmp_path: Path) -> None:
    Image.new("L", (12_000, 9_000)).save(tmp_path / "big.png")  # 108 MP of zeros: small file
    with pytest.raises(ImageInputError, match="too large.*108.0 megapixels.*limit is 50 megapixels"):
        open_image(tmp_path / "big.png")
    with pytest.raises(ImageInputError, match="too large"):
        open_image(tmp_path / "big.png", max_pixels=1000)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "empty"),
        (b"hello, this is text", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "(not an image|could not be read|damaged)"),
    ],
)
def test_broken_files(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "x.png").write_bytes(content)
    with pytest.raises(ImageInputError, match=message):
        open_image(tmp_path / "x.png")


def test_truncated_jpeg(tmp_path: Path) -> None:
    _gradient(200, 200).save(tmp_path / "full.jpg", quality=95)
    data = (tmp_path / "full.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageInputError, match="damaged or truncated"):
        open_image(tmp_path / "cut.jpg")


def test_missing_file_and_bytes_input(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="does not exist"):
        open_image(tmp_path / "nope.png")
    _gradient().save(tmp_path / "g.png")
    assert open_image((tmp_path / "g.png").read_bytes()).size == (40, 30)
    with pytest.raises(ImageInputError, match="empty"):
        open_image(b"")
