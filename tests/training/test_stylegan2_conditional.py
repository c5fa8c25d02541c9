"""StyleGAN2 conditioned on role type: class embedding into the mapping network, projection
discriminator, a training step with labels, and conditional sampling per type through the studio's
generator wrapper (tiny networks, CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.models.stylegan2 import Discriminator, Generator
from engine.procedural.lianpu import ROLE_KEYS
from engine.studios.opera.generate import LianpuGenerator
from engine.training.stylegan2 import (
    TRADITIONAL,
    StyleGAN2Training,
    balanced_indices,
    role_classes,
    role_labels,
)
from engine.weights.store import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


CLASSES = role_classes()
TINY = dict(z_dim=16, w_dim=16, img_resolution=16, channel_base=256, channel_max=32, mapping_layers=2,
            c_dim=len(CLASSES))


def _g() -> Generator:
    torch.manual_seed(0)
    g = Generator(**TINY).eval()
    assert g.mapping.embed is not None
    with torch.no_grad():  # a trained-like class embedding: each class moves w visibly
        g.mapping.embed.weight.normal_(0, 3.0)
    return g


def test_classes_are_the_nine_role_types_and_traditional() -> None:
    assert CLASSES == (*ROLE_KEYS, TRADITIONAL) and len(CLASSES) == 10
    assert list(role_labels(11)) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1]
    labels = np.array([0] * 90 + [1] * 10)  # class 1 rare in the data, drawn as often as class 0
    idx = balanced_indices(np.random.default_rng(0), labels, 2000)
    assert 0.4 < (labels[idx] == 1).mean() < 0.6


def test_conditional_sampling_per_type_label_changes_the_output() -> None:
    g = _g()
    z = torch.randn(1, 16).expand(len(CLASSES), -1)
    with torch.no_grad():
        imgs = g(z, noise_mode="const", c=torch.arange(len(CLASSES)))
    assert imgs.shape == (len(CLASSES), 3, 16, 16) and torch.isfinite(imgs).all()
    # same z, every type: each label gives its own picture
    diffs = [(imgs[i] - imgs[j]).abs().mean().item() for i in range(len(CLASSES)) for j in range(i)]
    assert min(diffs) > 1e-3
    same = g.sample_images([5, 5], labels=[3, 3])
    assert same.shape == (2, 16, 16, 3) and np.array_equal(same[0], same[1])
    with pytest.raises(ValueError, match="pass c"):
        g(z)
    with pytest.raises(ValueError, match="0..9"):
        g(z[:1], c=torch.tensor([10]))


def test_truncation_pulls_towards_the_class_mean() -> None:
    g = _g()
    assert g.mapping.w_avg.shape == (len(CLASSES), 16)
    c = torch.tensor([0, 0, 7, 7])
    g.mapping(torch.randn(4, 16), update_w_avg=True, c=c)
    assert g.mapping.w_avg[0].abs().sum() > 0 and g.mapping.w_avg[1].abs().sum() == 0  # class 1 not seen
    with torch.no_grad():
        w = g.mapping(torch.randn(4, 16), psi=0.0, c=c)
    assert torch.allclose(w[0], g.mapping.w_avg[0]) and torch.allclose(w[2], g.mapping.w_avg[7])


def test_projection_discriminator_uses_the_label() -> None:
    torch.manual_seed(1)
    d = Discriminator(img_resolution=16, channel_base=256, channel_max=32, num_classes=len(CLASSES))
    x = torch.randn(1, 3, 16, 16).expand(3, -1, -1, -1)
    out = d(x, c=torch.tensor([0, 4, 9]))
    assert out.shape == (3,) and len(set(out.tolist())) == 3  # same image, three labels, three logits
    with pytest.raises(ValueError, match="pass c"):
        d(x)
    with pytest.raises(ValueError, match="no classes"):
        Discriminator(img_resolution=16, channel_base=256, channel_max=32)(x, c=torch.tensor([0, 1, 2]))


def test_conditional_train_step_and_label_checks() -> None:
    torch.manual_seed(2)
    tr = StyleGAN2Training(resolution=16, aug="ada", batch=4, z_dim=16, channel_base=256, channel_max=32,
                           r1_every=1, pl_weight=1.0, pl_every=1, num_classes=len(CLASSES))
    embed = tr.G.mapping.embed
    assert embed is not None
    before = embed.weight.detach().clone()
    logs = tr.step(torch.rand(4, 3, 16, 16) * 2 - 1, torch.tensor([0, 3, 9, 9]))
    assert {"d_loss", "g_loss", "r1", "pl"} <= set(logs) and all(np.isfinite(v) for v in logs.values())
    assert not torch.equal(before, embed.weight)  # the class embedding learns
    with pytest.raises(ValueError, match="exactly when"):
        tr.step(torch.rand(4, 3, 16, 16) * 2 - 1)


def test_studio_generator_samples_by_role(tmp_path: Path) -> None:
    path = save_checkpoint(_g(), tmp_path / "g", task="test", input_size=(16, 16),
                           extra={"steps": 5, "classes": list(CLASSES)})
    model, card = load_checkpoint(path, device="cpu")
    gen = LianpuGenerator(model, {"extra": card.extra, "metrics": {}})
    assert gen.classes == CLASSES
    a, b = gen.generate(3, role="zheng"), gen.generate(3, role="sengdao")
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8 and not np.array_equal(a, b)
    assert np.array_equal(gen.generate(3), gen.generate(3, role=CLASSES[3 % len(CLASSES)]))  # seed picks the class
    assert gen.mix(1, 2, 2, role="wai").shape == (16, 16, 3)
    assert gen.interpolate(1, 2, 0.5, role=TRADITIONAL).shape == (16, 16, 3)
    with pytest.raises(ValueError, match="unknown role type"):
        gen.generate(3, role="hero")
