"""engine.nn.losses: the standard battery per loss (smoke and known values, shapes, bad input,
gradient, module == function), on every available device and two dtypes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.nn.losses import (
    ContextualLoss,
    FeatureMatchingLoss,
    GANLoss,
    GradientPenalty,
    R1Penalty,
    SoftCrossEntropy,
    WGANDivPenalty,
    contextual_loss,
    feature_matching_loss,
    gan_loss,
    gradient_penalty,
    hinge_loss,
    lsgan_loss,
    r1_penalty,
    soft_cross_entropy,
    wgan_div_penalty,
)


class LinearPatchCritic(nn.Module):
    """``D(x)`` = the same linear score ``w·x`` in each of ``patches`` map cells (plus a class head)."""

    def __init__(self, w: torch.Tensor, patches: int = 4, head: bool = False) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.patches, self.head = patches, head

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        s = (x.flatten(1) * self.w).sum(1)  # [N]
        side = int(self.patches ** 0.5)
        score = s[:, None, None, None].expand(-1, 1, side, side)
        return (score, torch.zeros(x.shape[0], 2, device=x.device)) if self.head else score


def _f(t: torch.Tensor) -> float:
    return float(t.detach())


def _w(device: torch.device, dtype: torch.dtype, n: int = 12) -> torch.Tensor:
    return torch.linspace(-0.3, 0.4, n, device=device, dtype=dtype)


# -- critic penalties ----------------------------------------------------------------------------

def test_gradient_penalty_known_values(device: torch.device, dtype: torch.dtype) -> None:
    w = _w(device, dtype)
    real, fake = torch.rand(3, 3, 2, 2, device=device, dtype=dtype), torch.rand(3, 3, 2, 2, device=device, dtype=dtype)
    norm = float(w.norm())
    critic = LinearPatchCritic(w, patches=4, head=True)  # tuple output: the first element is the score
    gp_mean = gradient_penalty(critic, real, fake).detach()
    gp_sum = gradient_penalty(critic, real, fake, reduction="sum").detach()
    assert gp_mean.shape == () and gp_mean.dtype == dtype
    assert float(gp_mean) == pytest.approx((norm - 1) ** 2, rel=1e-5)  # mean of the map: ∇ = w
    assert float(gp_sum) == pytest.approx((4 * norm - 1) ** 2, rel=1e-5)  # sum of 4 cells: ∇ = 4w
    one = LinearPatchCritic(w, patches=1)  # a single score: both reductions agree
    assert _f(gradient_penalty(one, real, fake)) == pytest.approx(_f(gradient_penalty(one, real, fake, "sum")))


def test_wgan_div_and_r1_known_values(device: torch.device, dtype: torch.dtype) -> None:
    w = _w(device, dtype)
    real, fake = torch.rand(2, 12, device=device, dtype=dtype), torch.rand(2, 12, device=device, dtype=dtype)
    norm = float(w.norm())
    critic = LinearPatchCritic(w, patches=4)
    assert _f(wgan_div_penalty(critic, real, fake)) == pytest.approx(2 * (4 * norm) ** 6, rel=1e-5)  # sum
    assert _f(wgan_div_penalty(critic, real, fake, k=1.0, p=2.0, reduction="mean")) == pytest.approx(norm ** 2,
                                                                                                      rel=1e-5)
    x = real.clone().requires_grad_(True)
    assert _f(r1_penalty((x * w).sum(1), x)) == pytest.approx(norm ** 2, rel=1e-5)


def test_penalties_are_differentiable_for_the_critic(device: torch.device) -> None:
    torch.manual_seed(0)
    critic = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 1, 3)).to(device)
    real, fake = torch.rand(2, 3, 6, 6, device=device), torch.rand(2, 3, 6, 6, device=device)
    x = real.clone().requires_grad_(True)
    for pen in (gradient_penalty(critic, real, fake), wgan_div_penalty(critic, real, fake, p=2.0),
                r1_penalty(critic(x), x)):
        critic.zero_grad()
        pen.backward()
        weights = [critic[0].weight.grad, critic[2].weight.grad]  # (a bias does not change ∇_x D)
        assert all(g is not None and torch.isfinite(g).all() and g.abs().sum() > 0 for g in weights)


def test_penalty_interpolates_use_one_uniform_draw_per_sample() -> None:
    """Same seed, same interpolates: the recipes of trained models depend on this RNG use."""
    critic = LinearPatchCritic(_w(torch.device("cpu"), torch.float32), patches=1)
    seen = []
    torch.manual_seed(3)
    gradient_penalty(lambda x: seen.append(x.detach()) or critic(x), torch.zeros(4, 12), torch.ones(4, 12))
    torch.manual_seed(3)
    eps = torch.rand(4, 1)
    torch.testing.assert_close(seen[0], (1 - eps).expand(4, 12))


@pytest.mark.parametrize("fn", [gradient_penalty, wgan_div_penalty])
def test_penalties_bad_input(fn) -> None:
    critic = LinearPatchCritic(torch.ones(12))
    with pytest.raises(ValueError, match="same shape"):
        fn(critic, torch.zeros(2, 12), torch.zeros(3, 12))
    with pytest.raises(ValueError, match="reduction"):
        fn(critic, torch.zeros(2, 12), torch.zeros(2, 12), reduction="max")
    with pytest.raises(ValueError, match="score each"):
        fn(lambda x: x.sum(), torch.zeros(2, 12), torch.zeros(2, 12))
    with pytest.raises(ValueError, match="critic must return"):
        fn(lambda x: {"score": x}, torch.zeros(2, 12), torch.zeros(2, 12))


def test_r1_bad_input() -> None:
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="require grad") as err:
        r1_penalty(x.sum(1), x)
    assert "\n" not in str(err.value)


def test_penalty_modules_equal_functions() -> None:
    critic = LinearPatchCritic(_w(torch.device("cpu"), torch.float64))
    real, fake = torch.rand(2, 12, dtype=torch.float64), torch.rand(2, 12, dtype=torch.float64)
    for module, fn in ((GradientPenalty("sum"), lambda: gradient_penalty(critic, real, fake, "sum")),
                       (WGANDivPenalty(1.0, 3.0, "mean"), lambda: wgan_div_penalty(critic, real, fake, 1.0, 3.0, "mean"))):
        torch.manual_seed(7)
        a = module(critic, real, fake)
        torch.manual_seed(7)
        assert torch.equal(a, fn())
    x = real.clone().requires_grad_(True)
    assert torch.equal(R1Penalty()(critic(x).sum(), x), r1_penalty(critic(x).sum(), x))


# -- adversarial terms, feature matching ---------------------------------------------------------

def test_hinge_and_lsgan_values(device: torch.device, dtype: torch.dtype) -> None:
    d = torch.tensor([3.0, 0.0, -0.5], device=device, dtype=dtype)
    assert float(hinge_loss(d, True)) == pytest.approx((0 + 1 + 1.5) / 3)
    assert float(hinge_loss(d, False)) == pytest.approx((4 + 1 + 0.5) / 3)
    assert float(hinge_loss(d, False, for_discriminator=False)) == pytest.approx(-2.5 / 3)
    assert float(lsgan_loss(d, True)) == pytest.approx((4 + 1 + 2.25) / 3)
    assert float(lsgan_loss(d, False)) == pytest.approx((9 + 0 + 0.25) / 3)


def test_gan_loss_averages_scales_and_module_equals_function(device: torch.device) -> None:
    outs = [[torch.ones(1, 2, device=device), torch.full((1, 1, 2, 2), 5.0, device=device)],
            [torch.zeros(1, 1, 1, 1, device=device)]]
    assert float(gan_loss(outs, True, True)) == pytest.approx((0 + 1) / 2)
    assert float(gan_loss(outs, False, True)) == pytest.approx((6 + 1) / 2)
    assert float(gan_loss(outs, True, False)) == pytest.approx((-5 + 0) / 2)
    assert float(gan_loss(outs, True, True, mode="lsgan")) == pytest.approx((16 + 1) / 2)
    for mode in ("hinge", "lsgan"):
        for real in (True, False):
            assert torch.equal(GANLoss(mode)(outs, real, True), gan_loss(outs, real, True, mode))
    with pytest.raises(ValueError, match="mode"):
        gan_loss(outs, True, True, mode="wgan")
    with pytest.raises(ValueError, match="mode"):
        GANLoss("wgan")
    with pytest.raises(ValueError, match="at least one scale"):
        gan_loss([], True, True)


def test_feature_matching(device: torch.device, dtype: torch.dtype) -> None:
    f = [[torch.ones(1, 2, 2, 2, device=device, dtype=dtype, requires_grad=True), torch.zeros(1, 1, device=device)],
         [torch.full((1, 3), 3.0, device=device, dtype=dtype), torch.zeros(1, 1, device=device)]]
    r = [[torch.zeros(1, 2, 2, 2, device=device, dtype=dtype, requires_grad=True), torch.ones(1, 1, device=device)],
         [torch.zeros(1, 3, device=device, dtype=dtype), torch.ones(1, 1, device=device)]]
    loss = feature_matching_loss(f, r)
    assert _f(loss) == pytest.approx((1 + 3) / 2)  # logits (last entries) left out
    assert torch.equal(FeatureMatchingLoss()(f, r), loss)
    loss.backward()
    assert f[0][0].grad is not None and r[0][0].grad is None  # real features detached
    with pytest.raises(ValueError, match="same scales"):
        feature_matching_loss(f, r[:1])


# -- contextual loss -----------------------------------------------------------------------------

def test_contextual_loss_values_and_invariance(device: torch.device, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    y = torch.randn(2, 8, 4, 4, device=device, dtype=dtype)
    assert float(contextual_loss(y, y)) < 1e-3
    assert float(contextual_loss(torch.randn_like(y), y)) > 0.1
    perm = torch.randperm(16, device=device)  # non-aligned data: the positions of x do not matter
    shuffled = y.flatten(2)[:, :, perm].view_as(y)
    assert float(contextual_loss(shuffled, y)) == pytest.approx(float(contextual_loss(y, y)), abs=1e-5)
    assert contextual_loss(y[:, :, :2], y).shape == ()  # sizes may differ


def test_contextual_loss_is_per_image() -> None:
    """The paper's CX is between the feature sets of one image pair: μ_y is each target image's own
    mean, so a batch's loss is the mean of the per-image losses (other images do not interfere)."""
    torch.manual_seed(1)
    x, y = torch.randn(3, 8, 4, 4), torch.randn(3, 8, 4, 4) + torch.arange(3.0)[:, None, None, None] * 4
    per_image = torch.stack([contextual_loss(x[i:i + 1], y[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(contextual_loss(x, y), per_image.mean())


def test_contextual_loss_gradient_module_and_bad_input() -> None:
    x = torch.randn(1, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(1, 4, 3, 3, dtype=torch.float64)
    contextual_loss(x, y).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert torch.equal(ContextualLoss(h=0.3)(x, y), contextual_loss(x, y, h=0.3))
    for a, b in ((x[0], y[0]), (x, y[:, :3]), (x, torch.cat([y, y]))):
        with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
            contextual_loss(a, b)
    with pytest.raises(ValueError, match="bandwidth"):
        contextual_loss(x, y, h=0.0)
    with pytest.raises(ValueError, match="bandwidth"):
        ContextualLoss(h=-1.0)


# -- soft cross-entropy --------------------------------------------------------------------------

def test_soft_cross_entropy(device: torch.device, dtype: torch.dtype) -> None:
    logits = torch.randn(4, 5, device=device, dtype=dtype, requires_grad=True)
    labels = torch.tensor([0, 3, 1, 4], device=device)
    one_hot = F.one_hot(labels, 5).to(dtype)
    torch.testing.assert_close(soft_cross_entropy(logits, one_hot), F.cross_entropy(logits, labels))
    assert torch.equal(SoftCrossEntropy()(logits, one_hot), soft_cross_entropy(logits, one_hot))
    soft_cross_entropy(logits, torch.full((4, 5), 0.2, device=device, dtype=dtype)).backward()
    assert logits.grad is not None
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        soft_cross_entropy(logits, one_hot[:, :4])
