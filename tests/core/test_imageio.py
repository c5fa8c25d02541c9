"""engine.imageio: modes, EXIF, size limits, corrupt files, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import ImageLoadError, ImageSaveError
from engine.imageio import (
    atomic_write_bytes,
    list_images,
    load_grey,
    load_image,
    save_image,
)


def _save_pil(path: Path, img: Image.Image, **kw) -> Path:
    img.save(path, **kw)
    return path


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA", "P", "1", "CMYK", "I;16", "I", "F"])
def test_any_mode_becomes_rgb_uint8(tmp_path: Path, mode: str) -> None:
    base = Image.fromarray((np.arange(24 * 32).reshape(24, 32) % 256).astype(np.uint8)).convert("RGB")
    img = base.convert(mode) if mode not in ("I;16", "I", "F") else Image.fromarray(
        (np.arange(24 * 32).reshape(24, 32) * 50).astype({"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
    ext = ".jpg" if mode == "CMYK" else (".tif" if mode in ("I", "F") else ".png")
    p = _save_pil(tmp_path / f"x{ext}", img)
    arr = load_image(p)
    assert arr.dtype == np.uint8 and arr.shape == (24, 32, 3)
    assert arr.flags.c_contiguous


def test_sixteen_bit_is_scaled_not_clipped(tmp_path: Path) -> None:
    a = np.full((8, 8), 65535, np.uint16)
    a[:, :4] = 32768
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    out = load_image(p)
    assert out[0, 7, 0] == 255 and 126 <= out[0, 0, 0] <= 129


def test_alpha_composited_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[:, :5] = (255, 0, 0, 255)  # opaque red left, transparent right
    p = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(p)
    out = load_image(p)
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[0, 9]) == (255, 255, 255)
    out_black = load_image(p, background=(0, 0, 0))
    assert tuple(out_black[0, 9]) == (0, 0, 0)


def test_exif_orientation_applied(tmp_path: Path) -> None:
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # white left half, landscape 40x20
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° CW when displayed
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif.tobytes(), quality=95)
    out = load_image(p)
    assert out.shape == (40, 20, 3)  # portrait after orientation
    assert out[:15].mean() > 200 and out[-15:].mean() < 50  # white half is now on top


def test_oversized_image_refused_before_decoding(tmp_path: Path) -> None:
    p = tmp_path / "big.png"
    Image.new("L", (3000, 2000)).save(p)
    with pytest.raises(ImageLoadError, match="over the"):
        load_image(p, max_pixels=1_000_000)
    assert load_image(p, max_pixels=10_000_000).shape == (2000, 3000, 3)


def test_huge_header_refused(tmp_path: Path) -> None:
    # A tiny file whose header claims 40000 x 40000 pixels (decompression bomb).
    p = tmp_path / "bomb.png"
    Image.new("1", (40000, 40000)).save(p)
    assert p.stat().st_size < 1_000_000
    with pytest.raises(ImageLoadError, match="MP"):
        load_image(p)


@pytest.mark.parametrize("content,match", [
    (b"", "not an image"),
    (b"this is not an image at all", "not an image"),
])
def test_unreadable_files(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "bad.png"
    p.write_bytes(content)
    with pytest.raises(ImageLoadError, match=match):
        load_image(p)


def test_truncated_file(tmp_path: Path, shapes: np.ndarray) -> None:
    p = tmp_path / "t.png"
    save_image(p, shapes)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match="corrupt|truncated|cannot read"):
        load_image(p)


def test_missing_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif", ".webp"])
def test_save_roundtrip(tmp_path: Path, shapes: np.ndarray, ext: str) -> None:
    p = save_image(tmp_path / f"o{ext}", shapes)
    back = load_image(p)
    assert back.shape == shapes.shape
    if ext in (".png", ".bmp", ".tif"):
        assert np.array_equal(back, shapes)


@pytest.mark.parametrize("channels", [0, 3, 4])
def test_fast_png_is_lossless(channels: int) -> None:
    """The dataset writer's fast PNG ("up" filter, run-length zlib) decodes to the same pixels,
    grey, RGB and RGBA, as Pillow reads them."""
    import io

    from engine.imageio import encode_image

    rng = np.random.default_rng(channels)
    shape = (37, 53) if channels == 0 else (37, 53, channels)
    arr = rng.integers(0, 256, shape, dtype=np.uint8)
    arr[:, :20] = arr[:1, :20]  # runs, where the filter and strategy matter
    fast = encode_image(arr, "PNG", png_level=1, png_fast=True)
    assert fast != encode_image(arr, "PNG", png_level=1)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(fast))), arr)


def test_save_grey_and_rgba(tmp_path: Path) -> None:
    g = np.arange(256, dtype=np.uint8).reshape(16, 16)
    save_image(tmp_path / "g.png", g)
    assert np.array_equal(load_grey(tmp_path / "g.png"), g)
    rgba = np.zeros((4, 4, 4), np.uint8)
    save_image(tmp_path / "a.jpg", rgba)  # alpha dropped for JPEG, no crash


def test_save_errors(tmp_path: Path, shapes: np.ndarray) -> None:
    with pytest.raises(ImageSaveError, match="extension"):
        save_image(tmp_path / "x.xyz", shapes)
    with pytest.raises(ImageSaveError, match="uint8"):
        save_image(tmp_path / "x.png", shapes.astype(np.float32))
    with pytest.raises(ImageSaveError, match="does not exist"):
        save_image(tmp_path / "missing" / "x.png", shapes)


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "keep.png"
    target.write_bytes(b"old contents")

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ImageSaveError, match="No space left"):
        atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]  # no temp file left behind


def test_atomic_write_replaces(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"a")
    atomic_write_bytes(target, b"bb")
    assert target.read_bytes() == b"bb"
    assert len(list(tmp_path.iterdir())) == 1


def test_list_images(tmp_path: Path, shapes: np.ndarray) -> None:
    for name in ("b.png", "a.jpg", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    assert [p.name for p in list_images(tmp_path)] == ["a.jpg", "b.png"]
    with pytest.raises(ImageLoadError):
        list_images(tmp_path / "none")


def test_atomic_write_gives_normal_permissions(tmp_path: Path) -> None:
    import stat

    p = atomic_write_bytes(tmp_path / "new.bin", b"x")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask  # not the temp file's 0600
    os.chmod(p, 0o640)
    atomic_write_bytes(p, b"y")
    assert stat.S_IMODE(p.stat().st_mode) == 0o640  # an existing file keeps its mode


# --- only regular files are read (issue 21 #6) ------------------------------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
@pytest.mark.parametrize("loader", ["load_image", "load_rgba", "load_grey", "open_image"])
def test_a_fifo_is_refused_without_being_opened(tmp_path: Path, loader: str) -> None:
    import time

    from engine import imageio

    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(ImageLoadError, match=r"pipe\.png: is a FIFO \(named pipe\), not a regular file"):
        getattr(imageio, loader)(fifo)  # opening it would block for ever: no writer exists
    assert time.monotonic() - start < 5


@pytest.mark.parametrize("path, needle", [("/dev/null", "is a character device, not a regular file")])
def test_a_device_is_refused(path: str, needle: str) -> None:
    if not os.path.exists(path):
        pytest.skip(f"no {path} here")
    with pytest.raises(ImageLoadError, match=needle):
        load_image(path)


def test_folders_missing_files_and_broken_links_are_one_line(tmp_path: Path) -> None:
    from engine.imageio import check_regular_file

    with pytest.raises(ImageLoadError, match="is a folder, not an image"):
        load_image(tmp_path)
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "none.png")
    (tmp_path / "dangling.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(ImageLoadError, match="file not found"):
        load_image(tmp_path / "dangling.png")
    real = tmp_path / "real.png"
    Image.new("RGB", (4, 3)).save(real)
    (tmp_path / "link.png").symlink_to(real)
    assert check_regular_file(tmp_path / "link.png") == tmp_path / "link.png"  # links to files are fine
    assert load_image(tmp_path / "link.png").shape == (3, 4, 3)
