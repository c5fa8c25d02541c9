"""Opera main-colour ResNet-18: shapes, learning, checkpoint, backend choice, card honesty, domain features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import LearnedBackendError
from engine.labels import OPERA_COLOURS
from engine.models.opera_classifier import OperaColourResNet18, square_on_white
from engine.procedural.lianpu import generate_lianpu
from engine.studios.opera.classify import classify
from engine.training.opera_classifier import (
    DEV_LABELS,
    accuracy_dev,
    augment,
    procedural_set,
)
from engine.weights.card import read_card
from engine.weights.store import PROJECT_CHECKPOINTS, load_checkpoint, save_checkpoint

PROJECT_CARD = PROJECT_CHECKPOINTS / "opera_colour_resnet18.json"


def _tiny() -> OperaColourResNet18:
    torch.manual_seed(0)
    return OperaColourResNet18(input_size=32)


def test_shapes_and_letterbox() -> None:
    m = _tiny().eval()
    x = m.prepare([np.zeros((40, 20, 3), np.uint8), np.zeros((10, 30, 4), np.uint8)])
    assert x.shape == (2, 3, 32, 32)
    assert x[0, :, :, 0].eq(1.0).all()  # white letterbox bars left of a tall image; transparent → white
    assert x[1].eq(1.0).all()
    assert m(x).shape == (2, 7) and m.embed_images([np.zeros((8, 8, 3), np.uint8)]).shape == (1, 512)
    with pytest.raises(ValueError):
        square_on_white(np.zeros((4, 4), np.uint8), 8)


def test_a_few_steps_lower_the_loss() -> None:
    m = _tiny()
    images, labels = procedural_set(14, 0, size=64)
    rng = np.random.default_rng(0)
    x = m.prepare([augment(im, rng, 32) for im in images])
    y = torch.from_numpy(labels)
    opt = torch.optim.Adam(m.parameters(), 1e-3)
    losses = []
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0]


def test_checkpoint_round_trip_and_backends(tmp_path: Path) -> None:
    m = _tiny().eval()
    img = generate_lianpu(3, "blue", 96).image
    card = save_checkpoint(m, tmp_path / "c", task="test", extra={"better_than_classical": False})
    m2, _ = load_checkpoint(card, device="cpu")
    assert np.allclose(m.predict_proba([img]), m2.predict_proba([img]), atol=1e-6)
    # auto never uses a network whose card does not claim it measured better
    assert classify(img, "auto", checkpoint=card).backend == "classical"
    learned = classify(img, "learned", checkpoint=card)
    assert learned.backend == "resnet18" and abs(sum(learned.scores.values()) - 1) < 1e-5
    better = save_checkpoint(m, tmp_path / "b", task="test", extra={"better_than_classical": True})
    assert classify(img, "auto", checkpoint=better).backend == "resnet18"
    with pytest.raises(LearnedBackendError, match="not available: missing.json not found"):
        classify(img, "learned", checkpoint=tmp_path / "missing.json")
    with pytest.raises(ValueError, match="backend"):
        classify(img, "magic")
    assert classify(img, "classical").colour == "blue"


@pytest.mark.skipif(not PROJECT_CARD.is_file(), reason="no trained classifier checkpoint")
def test_project_card_is_consistent() -> None:
    card = read_card(PROJECT_CARD)
    m = card.metrics
    assert card.kwargs["num_classes"] == len(OPERA_COLOURS)
    better = (m["procedural_accuracy"] > m["classical_procedural_accuracy"]
              and m.get("dev_accuracy", -1) > m.get("classical_dev_accuracy", 2))
    assert card.extra["better_than_classical"] is better
    model, _ = load_checkpoint(PROJECT_CARD, device="cpu")
    images, labels = procedural_set(28, 1_000_000)  # the first held-out designs of the card's measurement
    acc = float((model.predict_proba(images).argmax(1) == labels).mean())
    assert acc >= m["procedural_accuracy"] - 0.1


@pytest.mark.skipif(not PROJECT_CARD.is_file(), reason="no trained classifier checkpoint")
def test_project_card_dev_accuracy_is_measured(shared_data: Path) -> None:
    card = read_card(PROJECT_CARD)
    model, _ = load_checkpoint(PROJECT_CARD, device="cpu")
    folder = shared_data / "opera" / "lianpu"
    assert accuracy_dev(model, folder) == pytest.approx(card.metrics["dev_accuracy"], abs=1e-3)
    assert accuracy_dev(None, folder) == pytest.approx(card.metrics["classical_dev_accuracy"], abs=1e-3)
    assert len(DEV_LABELS) == 17


@pytest.mark.skipif(not PROJECT_CARD.is_file(), reason="no trained classifier checkpoint")
def test_domain_extractor_fid() -> None:
    from engine.metrics import fid_kid, get_extractor

    ext = get_extractor("domain")
    red = [generate_lianpu(s, "red", 64).image for s in range(12)]
    blue = [generate_lianpu(s, "blue", 64).image for s in range(12, 24)]
    red2 = [generate_lianpu(s, "red", 64).image for s in range(24, 36)]
    same = fid_kid(red, red, ext, subsets=3, subset_size=12)
    near = fid_kid(red, red2, ext, subsets=3, subset_size=12)
    far = fid_kid(red, blue, ext, subsets=3, subset_size=12)
    assert same.fid < 1e-3 and near.fid < far.fid and "opera-domain" in far.extractor
