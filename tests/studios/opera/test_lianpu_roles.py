"""Role-type lianpu (engine.procedural.lianpu role grammars): every type renders, its line art closes
into the design's regions, seeds are stable, symmetry holds except for the crooked face, the main
colour follows the role or the request, and the classic template is unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from engine.labels import OPERA_COLOURS
from engine.procedural.lianpu import LIANPU_PARTS, ROLE_KEYS, ROLE_TYPES, generate_lianpu, role_design
from engine.studios.opera.classical import sketch_regions
from engine.studios.opera.params import ColorizeParams

SIZE = 192


def test_nine_role_types_with_their_names() -> None:
    assert len(ROLE_KEYS) >= 9
    names = {t.name for t in ROLE_TYPES.values()}
    assert {"整脸", "三块瓦", "十字门", "六分脸", "碎花脸", "歪脸", "元宝脸", "象形脸", "僧道脸"} <= names
    assert all(set(t.colours) <= set(OPERA_COLOURS) for t in ROLE_TYPES.values())


@pytest.mark.parametrize("role", ROLE_KEYS)
def test_each_role_renders_and_its_line_art_closes_into_regions(role: str) -> None:
    d = generate_lianpu(7, size=SIZE, role=role)
    assert d.role == role and d.image.shape == (SIZE, SIZE, 3) and d.colour in ROLE_TYPES[role].colours
    labels = set(np.unique(d.regions[d.face_mask]).tolist())
    assert len(labels) >= 6  # a composition, not a flat oval
    regions, face = sketch_regions(d.line_art, ColorizeParams(gap=0))
    assert (face == d.face_mask).mean() > 0.97
    # every closed region of the line art holds one part of the design (no leak between parts)
    inner = face & d.face_mask & (d.line_art == 255)
    rid, lab = regions[inner], d.regions[inner].astype(np.int64)
    n = int(regions.max()) + 1
    table = np.bincount(rid.astype(np.int64) * len(LIANPU_PARTS) + lab, minlength=n * len(LIANPU_PARTS))
    table = table.reshape(n, len(LIANPU_PARTS))
    big = table.sum(axis=1) >= 30
    purity = table[big].max(axis=1) / table[big].sum(axis=1)
    assert purity.min() > 0.9, (role, purity.min())
    # and every sizeable part has a region of its own
    for label in labels:
        area = (d.regions == label).sum()
        if area >= 200:
            assert (table[:, label] >= 0.5 * table.sum(axis=1)).any(), (role, LIANPU_PARTS[label])


def test_roles_are_seeded_symmetric_and_coloured_on_request() -> None:
    a, b = generate_lianpu(11, size=128, role="shizimen"), generate_lianpu(11, size=128, role="shizimen")
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, generate_lianpu(12, size=128, role="shizimen").image)
    for role in ROLE_KEYS:
        d = generate_lianpu(3, size=128, role=role)
        sym = (d.regions == d.regions[:, ::-1]).mean()
        if role == "wai":
            assert sym < 0.97 and not role_design(3, role).symmetric
        else:
            assert sym == 1.0
    assert generate_lianpu(5, "green", 128, role="zheng").colour == "green"
    anyrole = generate_lianpu(5, size=128, role="any")
    assert anyrole.role in ROLE_KEYS
    with pytest.raises(ValueError, match="role"):
        generate_lianpu(1, size=128, role="clown")


def test_the_classic_template_is_unchanged() -> None:
    d = generate_lianpu(3, size=128)
    assert d.role == "classic" and d.colour == "yellow"  # the gallery's "#3 yellow"
    assert int(d.regions.max()) < LIANPU_PARTS.index("upper")


def test_dataset_types(tmp_path) -> None:
    from engine.cli import main
    from engine.imageio import load_grey
    from engine.procedural.lianpu_dataset import dataset_images, dataset_params, parse_types

    assert parse_types("all") == list(ROLE_KEYS) and parse_types(None) is None
    assert parse_types("zheng, wai,zheng") == ["zheng", "wai"]
    with pytest.raises(ValueError, match="unknown role"):
        parse_types("zheng,clown")
    p = dataset_params({"size": 64, "types": "shizimen,sengdao"})
    assert p["types"] == ["shizimen", "sengdao"] and "types" not in dataset_params({"size": 64})
    got = dataset_images(3, p)  # seed 3 → the second type
    assert np.array_equal(got["colour"], generate_lianpu(3, None, 64, role="sengdao").image)
    out = tmp_path / "ds"
    assert main(["batch", "opera-dataset", "--count", "2", "--output", str(out), "--size", "64",
                 "--types", "wai,liufen"]) == 0
    regions = sorted(out.glob("*regions.png"))
    assert len(regions) == 2
    assert np.array_equal(load_grey(regions[0]), generate_lianpu(0, None, 64, role="wai").regions)
    assert main(["batch", "opera-dataset", "--count", "1", "--output", str(tmp_path / "x"), "--types", "clown"]) != 0


def test_cli_generate_role(tmp_path, capsys) -> None:
    from engine.cli import main
    from engine.imageio import load_image

    out = tmp_path / "m.png"
    assert main(["opera", "generate", "--seed", "4", "--role", "yuanbao", "--size", "96", "--out", str(out)]) == 0
    assert "role type yuanbao" in capsys.readouterr().out
    rgba = load_image(out)
    d = generate_lianpu(4, None, 96, role="yuanbao")
    assert np.array_equal(rgba[..., :3][d.face_mask], d.image[d.face_mask])
    assert main(["opera", "generate", "--seed", "4", "--role", "clown", "--out", str(tmp_path / "x.png")]) != 0
    assert not (tmp_path / "x.png").exists()
