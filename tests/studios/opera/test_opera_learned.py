"""Opera learned engines wired into the studio: CoCosNet colouring backend, ResNet-18 colour classifier,
StyleGAN2 lianpu generator; ``auto`` falls back from a corrupt checkpoint, an explicit request fails in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import engine.weights.store as store
from engine.cli import main
from engine.errors import LearnedBackendError
from engine.imageio import load_image
from engine.models.cocosnet import CoCosNet
from engine.models.opera_classifier import OperaColourResNet18
from engine.models.stylegan2 import Generator
from engine.procedural.lianpu import generate_lianpu
from engine.studios.base import forget_learned
from engine.studios.opera.classify import classify
from engine.studios.opera.editor import ColorizeEditor, ColorizeParams
from engine.studios.opera.generate import load_lianpu_generator
from engine.studios.opera.learned import resolve_colorize_backend
from engine.weights.store import save_checkpoint


def _tiny_cocosnet(folder: Path, better: bool, steps: int = 3) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(CoCosNet(width=4, feat_channels=8, corr_down=2), folder / "cocosnet_g", task="test",
                           input_size=(32, 32), metrics={"ssim_neural": 0.5, "ssim_classical": 0.6},
                           extra={"steps": steps, "better_than_classical": better})


def test_neural_without_checkpoint_is_a_clear_error(roots: Path) -> None:
    with pytest.raises(ValueError, match="no trained cocosnet checkpoint"):
        resolve_colorize_backend("neural")
    assert resolve_colorize_backend("auto")[0] == "classical"
    d = generate_lianpu(1, size=64)
    ed = ColorizeEditor("neural")
    ed.set_image(d.line_art)
    ed.set_reference(d.image)
    with pytest.raises(ValueError, match="not available"):
        ed.edit(ColorizeParams())
    with pytest.raises(ValueError):
        resolve_colorize_backend("magic")


def test_auto_follows_the_card(roots: Path) -> None:
    _tiny_cocosnet(roots, better=False)
    backend, why = resolve_colorize_backend("auto")
    assert backend == "classical" and "did not measure better than classical" in why
    assert "SSIM 0.500 vs classical 0.600" in why
    assert resolve_colorize_backend("neural")[0] == "neural"
    _tiny_cocosnet(roots, better=True)
    forget_learned()
    assert resolve_colorize_backend("auto")[0] == "neural"


def test_untrained_card_is_not_used(roots: Path) -> None:
    _tiny_cocosnet(roots, better=True, steps=0)
    with pytest.raises(ValueError, match="no training steps"):
        resolve_colorize_backend("neural")
    assert resolve_colorize_backend("auto")[0] == "classical"


def test_neural_edit_gives_image_and_warped_exemplar(roots: Path) -> None:
    _tiny_cocosnet(roots, better=False)
    d = generate_lianpu(3, size=80)
    ed = ColorizeEditor("neural")
    ed.set_image(np.repeat(d.line_art[:, :, None], 3, axis=2))
    ed.set_reference(generate_lianpu(4, size=100).image)
    res = ed.edit(ColorizeParams())
    assert res.image.shape == (80, 80, 3) and res.image.dtype == np.uint8
    w = res.info["warped_reference"]
    assert w.shape == (80, 80, 3) and w.dtype == np.uint8
    assert res.info["backend"] == "neural" and "cocosnet" in res.info["method"]
    # the strokes stay dark: the result is darkened by the line art
    lines = d.line_art < 60
    assert res.image[lines].mean() < res.image[~lines].mean()
    # the learned colouring carries the sketch's closed regions, so hand fills work on it
    from engine.studios.opera.classical import recolour_region

    cr = res.info["colorize"]
    assert np.array_equal(cr.image, res.image) and cr.regions.shape == (80, 80) and cr.face_mask[40, 40]
    filled = recolour_region(cr, d.line_art, 40, 40, (3, 250, 7))
    same = cr.regions == cr.regions[40, 40]
    assert np.array_equal(filled.image[~same], cr.image[~same]) and not np.array_equal(filled.image, cr.image)
    classical = ColorizeEditor("classical")
    classical.set_image(d.line_art)
    classical.set_reference(d.image)
    info = classical.edit(ColorizeParams()).info
    assert info["backend"] == "classical" and info["warped_reference"].shape == (80, 80, 3) and "method" in info


def _tiny_generator(folder: Path, steps: int = 5, fid: float = 12.5, real_fid: float | None = None) -> Path:
    torch.manual_seed(0)
    g = Generator(z_dim=16, w_dim=16, img_resolution=16, channel_base=128, channel_max=16, mapping_layers=2)
    extra: dict = {"steps": steps, "aug": "ada", "extractor": "test"}
    if real_fid is not None:
        extra["reference_real_sets"] = {"fid_heldout_vs_training_procedural_200": real_fid}
    return save_checkpoint(g, folder / "stylegan2_lianpu", task="test", input_size=(16, 16),
                           metrics={"fid": fid}, extra=extra)


@pytest.mark.parametrize("fid, real_fid, min_side, flagged", [
    (12.5, None, 16, "unknown"), (31.0, 3.0, 16, "demo quality: FID 31.0"), (29.9, 3.0, 16, None),
    (29.9, 3.0, 64, "its designs are 16² — too small to read")])
def test_generator_quality_warning_from_the_card(roots: Path, monkeypatch, fid: float, real_fid: float | None,
                                                 min_side: int, flagged: str | None) -> None:
    from engine.studios.opera import generate

    monkeypatch.setattr(generate, "MIN_READABLE_SIDE", min_side)  # 64 in the product; the nets here are 16²
    _tiny_generator(roots, fid=fid, real_fid=real_fid)
    gen, _ = load_lianpu_generator()
    assert gen is not None
    if flagged is None:
        assert gen.quality_warning is None
    else:
        assert flagged in gen.quality_warning


def test_generator_missing_and_untrained(roots: Path) -> None:
    gen, why = load_lianpu_generator()
    assert gen is None and why.startswith("not available") and "no trained stylegan2_generator checkpoint" in why
    _tiny_generator(roots, steps=0)
    gen, why = load_lianpu_generator()
    assert gen is None and "no training steps" in why


def test_generator_generate_mix_interpolate(roots: Path) -> None:
    _tiny_generator(roots)
    gen, why = load_lianpu_generator()
    assert gen is not None and "16²" in why and "FID 12.5" in why
    assert gen.resolution == 16 and gen.num_layers == 6 and gen.card["extra"]["aug"] == "ada"
    a, b = gen.generate(1), gen.generate(2)
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    assert np.array_equal(a, gen.generate(1)) and not np.array_equal(a, b)
    assert not np.array_equal(a, gen.generate(1, psi=0.0))
    assert np.array_equal(gen.interpolate(1, 2, 0.0), a) and np.array_equal(gen.interpolate(1, 2, 1.0), b)
    mid = gen.interpolate(1, 2, 0.5)
    assert not np.array_equal(mid, a) and not np.array_equal(mid, b)
    mixed = gen.mix(1, 2, 3)
    assert mixed.shape == (16, 16, 3) and not np.array_equal(mixed, a) and not np.array_equal(mixed, b)
    for bad in (0, gen.num_layers):
        with pytest.raises(ValueError, match="crossover"):
            gen.mix(1, 2, bad)
    with pytest.raises(ValueError, match="psi"):
        gen.generate(1, psi=3.0)


def test_cli_generate_stylegan2_and_colorize_backend(roots: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.png"
    assert main(["opera", "generate", "--engine", "stylegan2", "--seed", "3", "--out", str(out)]) != 0
    assert "not available" in capsys.readouterr().err
    _tiny_generator(roots)
    assert main(["opera", "generate", "--engine", "stylegan2", "--seed", "3", "--psi", "0.5", "--out", str(out)]) == 0
    assert load_image(out).shape == (16, 16, 3)
    assert main(["opera", "generate", "--engine", "stylegan2", "--seed", "3", "--mix-seed", "4", "--crossover", "2",
                 "--size", "64", "--out", str(out)]) == 0
    assert load_image(out).shape == (64, 64, 3)
    sketch, ref, col = tmp_path / "s.png", tmp_path / "r.png", tmp_path / "c.png"
    main(["opera", "generate", "--seed", "1", "--size", "64", "--out", str(ref), "--lineart", str(sketch)])
    assert main(["opera", "colorize", str(sketch), "--reference", str(ref), "--out", str(col),
                 "--backend", "neural"]) != 0
    _tiny_cocosnet(roots, better=False)
    assert main(["opera", "colorize", str(sketch), "--reference", str(ref), "--out", str(col),
                 "--backend", "neural"]) == 0
    assert "neural" in capsys.readouterr().out


def test_shipped_checkpoints_load_and_auto_follows_their_cards() -> None:
    """The project's demo checkpoints (skipped when a checkout ships without them)."""
    from engine.weights.card import read_card
    from engine.weights.store import PROJECT_CHECKPOINTS

    cc, sg = PROJECT_CHECKPOINTS / "cocosnet_g.json", PROJECT_CHECKPOINTS / "stylegan2_lianpu.json"
    if not (cc.is_file() and sg.is_file()):
        pytest.skip("demo checkpoints not present")
    forget_learned()
    assert resolve_colorize_backend("auto")[0] == ("neural" if read_card(cc).better else "classical")
    gen, why = load_lianpu_generator(sg)
    assert gen is not None, why
    assert gen.generate(0).shape == (gen.resolution, gen.resolution, 3)
    assert len(gen.card["extra"]["comparison"]) == 4


# -- a corrupt override checkpoint: auto falls back with the reason, an explicit request fails in one line --

def _flip_weights(card: Path) -> None:
    """Flip bytes in the middle of a checkpoint's weights (same size: only the hash can tell)."""
    weights = card.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 16] = bytes(b ^ 0xFF for b in data[mid:mid + 16])
    weights.write_bytes(bytes(data))


@pytest.fixture
def override(roots: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``MASQUERADE_CHECKPOINTS`` folder (searched before the project's, here the empty ``roots``)."""
    folder = tmp_path / "override"
    folder.mkdir()
    monkeypatch.setenv(store.ENV_VAR, str(folder))
    return folder


def test_auto_colouring_falls_back_from_a_corrupt_override(override: Path) -> None:
    _flip_weights(_tiny_cocosnet(override, better=True))
    assert resolve_colorize_backend("auto")[0] == "neural"  # the card alone says better
    d = generate_lianpu(3, size=64)
    ed = ColorizeEditor("auto")
    ed.set_image(d.line_art)
    ed.set_reference(d.image)
    res = ed.edit(ColorizeParams())
    assert res.info["backend"] == "classical" and res.info["device"] == "cpu"
    assert "hash mismatch" in res.info["note"] and res.info["method"] == "region-correspondence"
    # the failure is remembered: auto now resolves to classical from the cards, with the reason
    backend, why = resolve_colorize_backend("auto")
    assert backend == "classical" and "hash mismatch" in why
    assert ed.resolution.backend == "classical" and ed.backend == "classical"
    neural = ColorizeEditor("neural")
    neural.set_image(d.line_art)
    neural.set_reference(d.image)
    with pytest.raises(LearnedBackendError, match="hash mismatch") as exc:
        neural.edit(ColorizeParams())
    assert "\n" not in str(exc.value)
    # good weights put back are used once the failures are forgotten (the Model manager does this after an import)
    _tiny_cocosnet(override, better=True)
    forget_learned()
    res = ed.edit(ColorizeParams())
    assert res.info["backend"] == "neural" and res.info["device"] == "cpu" and "measured better" in res.info["note"]


def test_cli_colorize_and_classify_fall_back_from_corrupt_overrides(override: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    sketch, ref, col = tmp_path / "s.png", tmp_path / "r.png", tmp_path / "c.png"
    assert main(["opera", "generate", "--seed", "1", "--color", "blue", "--size", "64", "--out", str(ref),
                 "--lineart", str(sketch)]) == 0
    _flip_weights(_tiny_cocosnet(override, better=True))
    torch.manual_seed(0)
    _flip_weights(save_checkpoint(OperaColourResNet18(input_size=32), override / "opera_colour_resnet18",
                                  task="test", extra={"better_than_classical": True}))
    capsys.readouterr()
    assert main(["opera", "colorize", str(sketch), "--reference", str(ref), "--out", str(col)]) == 0
    assert "classical" in capsys.readouterr().out and load_image(col).shape[:2] == (64, 64)
    assert main(["opera", "classify", str(ref)]) == 0
    assert capsys.readouterr().out.strip().endswith("[classical]")
    forget_learned()  # the explicit requests fail from the load, not only from the remembered failure
    for args in (["opera", "colorize", str(sketch), "--reference", str(ref), "--out", str(col), "--backend", "neural"],
                 ["opera", "classify", str(ref), "--backend", "learned"]):
        assert main(args) == 1
        err = capsys.readouterr().err.strip()
        assert "hash mismatch" in err and len(err.splitlines()) == 1


def test_classify_auto_falls_back_from_a_corrupt_override(override: Path) -> None:
    torch.manual_seed(0)
    card = save_checkpoint(OperaColourResNet18(input_size=32), override / "opera_colour_resnet18", task="test",
                           extra={"better_than_classical": True})
    img = generate_lianpu(3, "blue", 96).image
    _flip_weights(card)
    res = classify(img, "auto")
    assert res.backend == "classical" and res.colour == "blue" and "hash mismatch" in res.note
    with pytest.raises(LearnedBackendError, match="hash mismatch"):
        classify(img, "learned")


def test_generator_refuses_a_corrupt_override(override: Path) -> None:
    _flip_weights(_tiny_generator(override))
    gen, why = load_lianpu_generator()
    assert gen is None and why.startswith("not available") and "hash mismatch" in why
    gen, why = load_lianpu_generator()  # remembered: no second load attempt needed to say why
    assert gen is None and "hash mismatch" in why
