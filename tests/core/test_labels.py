"""engine.labels: scheme conversions round-trip and agree with ARCHITECTURE.md."""

from __future__ import annotations

import numpy as np
import pytest

from engine import labels as L


def test_official_order_matches_architecture() -> None:
    assert L.CELEBAMASK_HQ.classes[:6] == ("background", "skin", "nose", "eye_g", "l_eye", "r_eye")
    assert L.CELEBAMASK_HQ.index("hair") == 13 and L.CELEBAMASK_HQ.index("cloth") == 18
    assert len(L.CELEBAMASK_HQ) == 19 and len(L.BISENET) == 19 and len(L.MT14) == 14
    assert set(L.BISENET.classes) == set(L.CELEBAMASK_HQ.classes)


def test_bisenet_roundtrip_every_class() -> None:
    m = np.arange(19, dtype=np.uint8).reshape(1, 19)
    off = L.bisenet_to_official(m)
    assert [L.CELEBAMASK_HQ.classes[v] for v in off[0]] == list(L.BISENET.classes)
    assert np.array_equal(L.official_to_bisenet(off), m)


def test_known_bisenet_values() -> None:
    # bisenet: 10 nose, 17 hair, 18 hat, 6 eye_g  → official 2, 13, 14, 3
    m = np.array([[10, 17, 18, 6]], np.int64)
    assert L.bisenet_to_official(m).tolist() == [[2, 13, 14, 3]]


def test_mt14_matches_shared_data_readme_remap() -> None:
    # shared/data README: 1→1, 2→6, 3→7, 4→4, 5→5, 6→2, 7→11, 8→10, 9→12, 10→13, 11→8, 12→9, 13→17
    expected = {0: 0, 1: 1, 2: 6, 3: 7, 4: 4, 5: 5, 6: 2, 7: 11, 8: 10, 9: 12, 10: 13, 11: 8, 12: 9, 13: 17}
    m = np.array([list(expected)], np.uint8)
    assert L.mt14_to_official(m).tolist() == [list(expected.values())]


def test_mt14_conversion_on_shared_pairs(shared_data) -> None:
    from PIL import Image

    folder = shared_data / "makeup" / "mt" / "makeup"
    for mt in sorted((folder / "seg_mt14").glob("*.png"))[:3]:
        src = np.asarray(Image.open(mt))
        ref = np.asarray(Image.open(folder / "seg_celebamaskhq" / mt.name))
        assert np.array_equal(L.mt14_to_official(src), ref)


def test_out_of_range_values_become_background() -> None:
    m = np.array([[200, 19]], np.uint8)
    assert L.bisenet_to_official(m).tolist() == [[0, 0]]


def test_bad_maps_rejected() -> None:
    with pytest.raises(ValueError):
        L.convert_labels(np.zeros((2, 2, 2), np.uint8), "bisenet", "celebamask_hq")
    with pytest.raises(ValueError):
        L.convert_labels(np.zeros((2, 2), np.float32), "bisenet", "celebamask_hq")
    with pytest.raises(ValueError):
        L.convert_labels(np.full((2, 2), 300, np.int32), "bisenet", "celebamask_hq")
    with pytest.raises(KeyError, match="not a class"):
        L.CELEBAMASK_HQ.index("whiskers")


def test_palette_roundtrip() -> None:
    m = np.tile(np.arange(19, dtype=np.uint8), (3, 1))
    rgb = L.colorize_labels(m)
    assert rgb.shape == (3, 19, 3) and rgb.dtype == np.uint8
    assert len({tuple(c) for c in L.CELEBAMASK_HQ_PALETTE}) == 19  # all colours distinct
    assert np.array_equal(L.labels_from_colors(rgb), m)


def test_region_mask() -> None:
    m = np.array([[11, 12, 1, 13]], np.uint8)
    assert L.region_mask(m, L.LIPS).tolist() == [[True, True, False, False]]
    assert "hair" in L.MAKEUP_INVARIANT and "skin" not in L.MAKEUP_INVARIANT
    assert L.EXPRESSIONS == ("angry", "sad", "smile", "surprised")
    assert len(L.OPERA_COLOURS) == 7 and set(L.OPERA_COLOUR_RGB) == set(L.OPERA_COLOURS)
