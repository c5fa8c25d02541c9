"""Procedural lianpu generator: seeded, symmetric, closed line art, forced colours, style mixing."""

from __future__ import annotations

import numpy as np
import pytest

from engine.labels import OPERA_COLOURS
from engine.procedural.lianpu import (
    LIANPU_PARTS,
    LianpuDesign,
    LianpuPalette,
    generate_lianpu,
    lianpu_sheet,
    render_lianpu,
)
from engine.studios.opera.classical import classify_main_colour, colorize


def test_outputs_shapes_and_types() -> None:
    d = generate_lianpu(7, size=96)
    assert d.image.shape == (96, 96, 3) and d.image.dtype == np.uint8
    assert d.line_art.shape == (96, 96) and d.line_art.dtype == np.uint8
    assert d.regions.shape == (96, 96) and d.regions.max() < len(LIANPU_PARTS)
    assert d.colour in OPERA_COLOURS
    # white paper outside the face, the face in the middle
    assert (d.image[0, 0] == 255).all() and d.face_mask[48, 48] and not d.face_mask[0, 0]
    # the design has its parts: eye patches, sockets, beard, lips inside the face
    present = {LIANPU_PARTS[i] for i in np.unique(d.regions)}
    assert {"face", "eye_patch", "eye_socket", "beard", "lips", "chin"} <= present


def test_seeded_and_varied() -> None:
    a, b, c = generate_lianpu(3, size=64), generate_lianpu(3, size=64), generate_lianpu(4, size=64)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.regions, b.regions)
    assert not np.array_equal(a.regions, c.regions)


@pytest.mark.parametrize("size", [64, 128, 200])
def test_exactly_symmetric(size: int) -> None:
    d = generate_lianpu(11, size=size)
    assert np.array_equal(d.image, d.image[:, ::-1])
    assert np.array_equal(d.line_art, d.line_art[:, ::-1])
    assert np.array_equal(d.regions, d.regions[:, ::-1])


def test_forced_colour_is_the_dominant_paint() -> None:
    for seed in range(6):
        for colour in OPERA_COLOURS:
            d = generate_lianpu(seed, colour=colour, size=128)
            assert d.colour == colour
            assert classify_main_colour(d.image).colour == colour, (seed, colour)


def test_line_art_closes_every_region() -> None:
    # colouring the generator's own line art from its own image gives the image back
    d = generate_lianpu(2, size=256)
    res = colorize(d.line_art, d.image)
    assert np.abs(res.image.astype(int) - d.image).mean() < 2.0


def test_style_mixing_shapes_of_one_colours_of_another() -> None:
    mixed = generate_lianpu(5, size=96, colour_seed=9)
    shapes, colours = generate_lianpu(5, size=96), generate_lianpu(9, size=96)
    assert np.array_equal(mixed.regions, shapes.regions)
    assert mixed.colour == colours.colour and (mixed.seed, mixed.colour_seed) == (5, 9)
    base = LianpuPalette.from_seed(9).rgb[LIANPU_PARTS.index("face")]
    face = mixed.regions == LIANPU_PARTS.index("face")
    assert (mixed.image[face] == base).all(axis=1).mean() > 0.5
    assert (colours.image[colours.regions == LIANPU_PARTS.index("face")] == base).all(axis=1).mean() > 0.5


def test_render_from_parts_matches_generate() -> None:
    image, line, regions = render_lianpu(LianpuDesign.from_seed(1), LianpuPalette.from_seed(1, "green"), 80)
    d = generate_lianpu(1, colour="green", size=80)
    assert np.array_equal(image, d.image) and np.array_equal(line, d.line_art)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown opera colour"):
        generate_lianpu(1, colour="pink")
    with pytest.raises(ValueError, match="seeds"):
        generate_lianpu(-1)
    with pytest.raises(ValueError, match="size"):
        generate_lianpu(1, size=32)


def test_sheet() -> None:
    sheet = lianpu_sheet([0, 1, 2, 3, 4], size=64, columns=3)
    assert sheet.shape == (128, 192, 3)
    assert (sheet[64:, 128:] == 255).all()
