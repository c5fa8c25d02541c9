"""Colouring by content (engine.studios.opera.matching): mirror regions, pins, the black-face case,
dashed outlines, content alignment and the reference-strength blend. Generated drawings only."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.labels import OPERA_COLOURS
from engine.procedural.lianpu import generate_lianpu
from engine.studios.opera.classical import colorize, paint_classes, reference_lines
from engine.studios.opera.matching import Pin, content_warp, face_from_lines, mirror_partners, symmetry_axis
from engine.studios.opera.params import ColorizeParams

SIZE = 192


def simple_face(size: int = SIZE, shift: int = 0) -> np.ndarray:
    """A simply sketched face: oval outline, two eyes, two brows, a nose line and a mouth."""
    s = np.full((size, size), 255, np.uint8)
    c = size // 2 + shift
    t = max(1, size // 128)
    cv2.ellipse(s, (c, int(size * 0.52)), (int(size * 0.33), int(size * 0.43)), 0, 0, 360, 0, t)
    for sx in (-1, 1):
        cv2.ellipse(s, (c + sx * int(size * 0.13), int(size * 0.42)), (int(size * 0.06), int(size * 0.03)), 0, 0, 360, 0, t)
        cv2.ellipse(s, (c + sx * int(size * 0.13), int(size * 0.34)), (int(size * 0.08), int(size * 0.03)), 0, 180, 360, 0, t)
    cv2.line(s, (c, int(size * 0.45)), (c, int(size * 0.58)), 0, t)
    cv2.ellipse(s, (c, int(size * 0.72)), (int(size * 0.09), int(size * 0.03)), 0, 0, 360, 0, t)
    return s


def _is_black(rgb: np.ndarray) -> bool:
    return bool(rgb.astype(int).max() < 70)


def test_simple_face_is_not_flooded_black_by_the_default_reference() -> None:
    ref = generate_lianpu(3, size=256)  # the gallery's default "#3"
    res = colorize(simple_face(), ref.image)
    face_region = res.regions[int(SIZE * 0.6), int(SIZE * 0.3)]  # the cheek: the big face region
    assert not _is_black(res.colours[face_region])
    # the main face paint of the reference ("#3 yellow") is what the big region takes
    assert ref.colour == "yellow"
    cls = paint_classes(res.colours[face_region][None, None])[0, 0]
    assert OPERA_COLOURS[cls] == "yellow"
    # no region of the sketch ends black unless its counterpart in the reference is black
    for rid in np.unique(res.regions[res.face_mask]):
        if _is_black(res.colours[rid]):
            sel = res.regions == rid
            assert (res.warped_reference[sel].max(axis=1) < 90).mean() > 0.3


def test_black_is_kept_where_the_reference_is_black() -> None:
    ref = np.full((SIZE, SIZE, 3), 255, np.uint8)
    cv2.ellipse(ref, (SIZE // 2, int(SIZE * 0.52)), (int(SIZE * 0.33), int(SIZE * 0.43)), 0, 0, 360, (10, 10, 10), -1)
    res = colorize(simple_face(), ref)
    assert _is_black(res.colours[res.regions[int(SIZE * 0.6), int(SIZE * 0.3)]])


def test_a_region_and_its_mirror_get_the_same_colour() -> None:
    sketch = simple_face()
    ref = generate_lianpu(11, size=256).image.copy()
    # make the reference slightly asymmetric: a mirror pair must still agree
    ref[:, 128:] = np.clip(ref[:, 128:].astype(int) + 6, 0, 255).astype(np.uint8)
    res = colorize(sketch, ref)
    axis = symmetry_axis(sketch < 128, res.face_mask)
    assert abs(axis - (SIZE // 2)) <= 1.0
    y = int(SIZE * 0.42)
    for dx in (int(SIZE * 0.13),):  # the eyes
        left, right = res.regions[y, SIZE // 2 - dx], res.regions[y, SIZE // 2 + dx]
        assert left != right
        assert np.array_equal(res.colours[left], res.colours[right])
    partner = mirror_partners(res.regions, axis)
    pairs = [(r, partner[r]) for r in range(partner.size) if partner[r] != r]
    assert pairs, "a symmetric sketch has mirror pairs"
    for a, b in pairs:
        assert np.array_equal(res.colours[a], res.colours[b])
    # the mirrored sketch gets the mirrored colouring
    flipped = colorize(np.ascontiguousarray(sketch[:, ::-1]), ref)
    yy, xx = int(SIZE * 0.42), SIZE // 2 - int(SIZE * 0.13)
    mirrored = flipped.colours[flipped.regions[yy, SIZE - 1 - xx]].astype(int)
    assert np.abs(mirrored - res.colours[res.regions[yy, xx]]).max() <= 3  # pixel rounding of the flip


def test_pins_override_the_automatic_match() -> None:
    sketch = simple_face()
    ref = np.full((SIZE, SIZE, 3), 255, np.uint8)
    cv2.ellipse(ref, (SIZE // 2, int(SIZE * 0.52)), (int(SIZE * 0.33), int(SIZE * 0.43)), 0, 0, 360, (200, 30, 35), -1)
    cv2.circle(ref, (20, 20), 12, (30, 160, 60), -1)  # a green swatch far from any face region
    auto = colorize(sketch, ref)
    eye = auto.regions[int(SIZE * 0.42), SIZE // 2 - int(SIZE * 0.13)]
    assert not np.array_equal(auto.colours[eye], (30, 160, 60))
    pin = Pin(20 / SIZE, 20 / SIZE, (SIZE // 2 - int(SIZE * 0.13)) / SIZE, 0.42)
    pinned = colorize(sketch, ref, ColorizeParams(pins=(pin,)))
    left = pinned.regions[int(SIZE * 0.42), SIZE // 2 - int(SIZE * 0.13)]
    right = pinned.regions[int(SIZE * 0.42), SIZE // 2 + int(SIZE * 0.13)]
    assert tuple(pinned.colours[left]) == (30, 160, 60)
    assert tuple(pinned.colours[right]) == (30, 160, 60)  # its mirror follows the pin
    with pytest.raises(ValueError, match="ref_x"):
        ColorizeParams(pins=(Pin(1.5, 0.0, 0.0, 0.0),)).validate()


def test_reference_strength_blends_with_the_sketch_fills() -> None:
    sketch = np.repeat(simple_face()[:, :, None], 3, axis=2)
    own = (40, 90, 200)
    fill_at = (int(SIZE * 0.3), int(SIZE * 0.6))
    mask = np.zeros((SIZE + 2, SIZE + 2), np.uint8)
    cv2.floodFill(sketch, mask, fill_at, own)
    ref = np.full((SIZE, SIZE, 3), 255, np.uint8)
    cv2.ellipse(ref, (SIZE // 2, int(SIZE * 0.52)), (int(SIZE * 0.33), int(SIZE * 0.43)), 0, 0, 360, (200, 30, 36), -1)
    x, y = fill_at
    full = colorize(sketch, ref).image[y, x].astype(int)
    none = colorize(sketch, ref, ColorizeParams(reference_strength=0.0)).image[y, x].astype(int)
    half = colorize(sketch, ref, ColorizeParams(reference_strength=0.5)).image[y, x].astype(int)
    assert np.abs(full - (200, 30, 36)).max() <= 2
    assert np.abs(none - own).max() <= 2
    assert np.abs(half - (np.array(own) + (200, 30, 36)) / 2).max() <= 3


def test_face_of_a_dashed_outline() -> None:
    ink = np.zeros((160, 160), np.uint8)
    for a in range(0, 360, 20):  # a dashed oval: 10° dashes, 10° gaps (~10 px wide)
        cv2.ellipse(ink, (80, 80), (60, 70), 0, a, a + 10, 1, 2)
    cv2.circle(ink, (60, 70), 8, 1, 2)
    face = face_from_lines(ink > 0)
    assert face[80, 80] and face[140, 80] and not face[3, 3]
    assert 0.8 < face.sum() / (np.pi * 60 * 70) < 1.15


def test_content_warp_aligns_features_at_other_proportions() -> None:
    # the same face drawn shorter: its eyes and mouth must land on the sketch's eyes and mouth
    ref_sketch = cv2.resize(simple_face(), (SIZE, int(SIZE * 0.8)), interpolation=cv2.INTER_AREA)
    ref_sketch = np.pad(ref_sketch, ((SIZE - ref_sketch.shape[0], 0), (0, 0)), constant_values=255)
    ref = np.repeat(ref_sketch[:, :, None], 3, axis=2)
    ink = simple_face() < 128
    ref_ink = reference_lines(ref)
    maps = content_warp(ref_ink, face_from_lines(ref_ink), ink, face_from_lines(ink))
    warped_ink = maps.apply(ref_ink.astype(np.uint8) * 255) > 127
    dil = cv2.dilate(warped_ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert dil[ink].mean() > 0.8
    # self-alignment is the identity
    self_maps = content_warp(ink, face_from_lines(ink), ink, face_from_lines(ink))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    face = face_from_lines(ink)
    assert np.abs(self_maps.map_x - xx)[face].max() < 2.0 and np.abs(self_maps.map_y - yy)[face].max() < 2.0
