"""StyleGAN2 (plain PyTorch) and its augmentations at tiny resolution."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.models.augment import ADA, APA, DiffusionNoise
from engine.models.stylegan2 import Discriminator, Generator, ModulatedConv2d, interpolate_w, slerp
from engine.nn.losses import r1_penalty
from engine.training.stylegan2 import AUG_MODES, StyleGAN2Training, path_length_penalty
from engine.weights.store import load_checkpoint, save_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = dict(z_dim=16, w_dim=16, img_resolution=16, channel_base=256, channel_max=32, mapping_layers=2)


def _g() -> Generator:
    torch.manual_seed(0)
    return Generator(**TINY)


def test_forward_shapes() -> None:
    g = _g()
    assert g.num_ws == 6
    img = g(torch.randn(3, 16))
    assert img.shape == (3, 3, 16, 16) and torch.isfinite(img).all()
    d = Discriminator(img_resolution=16, channel_base=256, channel_max=32)
    assert d(img).shape == (3,)
    dc = Discriminator(img_resolution=16, channel_base=256, channel_max=32, cond_dim=8)
    assert dc(img, torch.rand(3)).shape == (3,)
    with pytest.raises(ValueError, match="conditioned"):
        dc(img)
    with pytest.raises(ValueError, match="power of two"):
        Generator(img_resolution=24)


def test_demodulation_cancels_style_scale() -> None:
    torch.manual_seed(1)
    conv = ModulatedConv2d(4, 5, 3, w_dim=6, demodulate=True)
    x, w = torch.randn(2, 4, 8, 8), torch.randn(2, 6)
    a = conv(x, w)
    with torch.no_grad():
        conv.affine.weight.mul_(3.0)
        conv.affine.bias.mul_(3.0)
    assert torch.allclose(conv(x, w), a, atol=1e-5)
    assert conv.up is False and ModulatedConv2d(4, 5, 3, 6, up=True)(x, w).shape == (2, 5, 16, 16)


def test_truncation_mixing_interpolation() -> None:
    g = _g().eval()
    g.mapping.w_avg.normal_()
    z1, z2 = torch.randn(2, 16), torch.randn(2, 16)
    with torch.no_grad():
        a = g(z1, psi=0.0, noise_mode="const")
        assert torch.allclose(a[0], a[1], atol=1e-5)  # ψ = 0: every sample is the average face
        assert not torch.allclose(g(z1, noise_mode="const")[0], g(z1, noise_mode="const")[1])
        assert torch.allclose(g.mix(z1, z2, g.num_ws, noise_mode="const"), g(z1, noise_mode="const"), atol=1e-5)
        assert torch.allclose(g.mix(z1, z2, 0, noise_mode="const"), g(z2, noise_mode="const"), atol=1e-5)
        mixed = g.mix(z1, z2, 2, noise_mode="const")
        assert not torch.allclose(mixed, g(z1, noise_mode="const"))
        path = interpolate_w(g, z1[:1], z2[:1], 3)
        assert path.shape == (3, 3, 16, 16)
        assert torch.allclose(path[0], g(z1[:1], noise_mode="const")[0], atol=1e-5)
    s = slerp(z1, z2, 0.0)
    assert torch.allclose(s, z1, atol=1e-5) and torch.allclose(slerp(z1, z2, 1.0), z2, atol=1e-4)


def test_regularisers() -> None:
    g = _g()
    d = Discriminator(img_resolution=16, channel_base=256, channel_max=32)
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    assert r1_penalty(d(x), x) > 0
    ws = g.ws(torch.randn(2, 16)).detach().requires_grad_(True)
    pl, mean = path_length_penalty(g, ws, torch.zeros(()))
    assert torch.isfinite(pl) and mean > 0


@pytest.mark.parametrize("mode", AUG_MODES)
def test_one_train_step_each_augmentation(mode: str) -> None:
    torch.manual_seed(2)
    tr = StyleGAN2Training(resolution=16, aug=mode, batch=4, z_dim=16, channel_base=256, channel_max=32,
                           r1_every=1, pl_weight=1.0, pl_every=1)
    before_g = [p.detach().clone() for p in tr.G.parameters()]
    before_d = [p.detach().clone() for p in tr.D.parameters()]
    logs = tr.step(torch.rand(4, 3, 16, 16) * 2 - 1)
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    assert {"d_loss", "g_loss", "r1", "pl"} <= set(logs)
    assert any(not torch.equal(a, b) for a, b in zip(before_g, tr.G.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(before_d, tr.D.parameters(), strict=True))
    assert ("p" in logs) == (mode != "none")


def test_adaptive_p_direction() -> None:
    ada = ADA(kimg=0.01)  # fast: 4 batches of 8 move p by 0.032·100 = capped steps
    for _ in range(8):
        ada.observe(torch.ones(8))  # D sure every real is real: overfitting → p rises
    assert ada.p > 0 and ada.last_rt == 1.0
    high = ada.p
    for _ in range(4):
        ada.observe(-torch.ones(8))
    assert ada.p < high and ada.last_rt == -1.0
    still = ADA(kimg=0.01)
    for _ in range(3):
        still.observe(torch.ones(8))
    assert still.p == 0  # adjusted only every 4 minibatches


def test_ada_augments_only_with_p() -> None:
    x = torch.rand(6, 3, 16, 16)
    ada = ADA()
    assert torch.equal(ada(x), x)
    ada.p_buf.fill_(1.0)
    y = ada(x)
    assert y.shape == x.shape and not torch.allclose(y, x)


def test_apa_and_diffusion() -> None:
    reals, fakes = torch.zeros(200, 1, 2, 2), torch.ones(200, 1, 2, 2)
    apa = APA(p_init=0.3)
    frac = apa(reals, fakes).mean().item()
    assert 0.2 < frac < 0.4
    dn = DiffusionNoise(t_min=5, t_max=100, kimg=0.01)
    assert dn.T == 5
    for _ in range(4):
        dn.observe(torch.ones(16))
    assert dn.T > 5
    xt, t = dn(torch.zeros(8, 3, 8, 8))
    assert xt.shape == (8, 3, 8, 8) and t.shape == (8,) and (t < dn.T / 100 + 1e-6).all()


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    g = _g().eval()
    path = save_checkpoint(g, tmp_path / "g", task="test")
    g2, card = load_checkpoint(path, device="cpu")
    z = torch.randn(2, 16)
    with torch.no_grad():
        assert torch.allclose(g(z, noise_mode="const"), g2(z, noise_mode="const"))
    assert card.model == "stylegan2_generator" and card.kwargs["img_resolution"] == 16
    assert g.sample_images([1, 2]).shape == (2, 16, 16, 3)
