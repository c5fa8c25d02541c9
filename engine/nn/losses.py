"""GAN losses and regularisers shared by the trainers in :mod:`engine.training` (each written once).

* critic penalties: :func:`gradient_penalty` (WGAN-GP, Gulrajani et al. 2017),
  :func:`wgan_div_penalty` (WGAN-div, Wu et al. 2018), :func:`r1_penalty` (R1, Mescheder et al.
  2018);
* adversarial terms: :func:`hinge_loss`, :func:`lsgan_loss` and :func:`gan_loss` (either one
  averaged over the scales of a multi-scale discriminator);
* :func:`feature_matching_loss` (pix2pixHD), :func:`contextual_loss` (Mechrez et al. 2018),
  :func:`soft_cross_entropy` (cross-entropy against label distributions).

A typed function does the work; a thin ``nn.Module`` wraps each one for use as a criterion.

Critics: the penalties call ``critic(x)`` on a batch ``[N, ...]``. It may return a score tensor
``[N]`` or a score map ``[N, ...]`` (a PatchGAN), or a tuple / list whose first element is that
(critics with an auxiliary classification head). ``reduction`` says how a score map becomes one
score per sample before the gradient is taken: ``"mean"`` (a patch critic's value of an image is
the mean of its map, as in the Wasserstein term ``D(x).mean()``) or ``"sum"`` (the gradient of
the summed map, i.e. ``grad_outputs = 1`` for every patch; for a map of ``P`` patches this is
``P`` times the mean's gradient). A critic returning ``[N]`` or ``[N, 1]`` gives the same either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

CriticOutput = torch.Tensor | Sequence[torch.Tensor]
"""What a critic returns: scores, or a tuple / list whose first element holds them."""

Critic = Callable[[torch.Tensor], CriticOutput]
"""A critic called on one batch of images."""

Reduction = Literal["mean", "sum"]
"""How a critic's score map becomes one score per sample (see the module docstring)."""


def _scores(out: CriticOutput) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise ValueError(f"the critic must return a tensor or a tuple whose first element is one, got {type(out).__name__}")


def _interpolates(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """``ε·real + (1 − ε)·fake`` with one uniform ``ε`` per sample, requiring grad."""
    if real.shape != fake.shape or real.ndim < 2:
        raise ValueError(f"real and fake must be batches of the same shape, got {tuple(real.shape)} "
                         f"and {tuple(fake.shape)}")
    eps = torch.rand(real.shape[0], *([1] * (real.ndim - 1)), device=real.device, dtype=real.dtype)
    return (eps * real + (1 - eps) * fake).requires_grad_(True)


def _critic_grad(critic: Critic, x: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    """``∇_x Σ_n score_n(x)`` with the per-sample score made by ``reduction`` (graph kept)."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    s = _scores(critic(x))
    if s.ndim == 0 or s.shape[0] != x.shape[0]:
        raise ValueError(f"the critic must score each of the {x.shape[0]} samples, "
                         f"got scores of shape {tuple(s.shape)}")
    if reduction == "mean" and s.ndim > 1:
        s = s.mean(dim=tuple(range(1, s.ndim)))
    (grad,) = torch.autograd.grad(s.sum(), x, create_graph=True)
    return grad


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor,
                     reduction: Reduction = "mean") -> torch.Tensor:
    """WGAN-GP term ``E[(‖∇D(x̂)‖₂ − 1)²]`` on random interpolates ``x̂`` of real and fake samples.

    Args:
        critic: the critic (see the module docstring); its parameters receive gradients.
        real: real batch ``[N, ...]``.
        fake: generated batch of the same shape (detach it for the critic's step).
        reduction: per-sample score of a score map, ``"mean"`` or ``"sum"``.

    Returns:
        Scalar penalty (differentiable: ``create_graph=True``).

    Shape:
        ``real``, ``fake`` ``[N, ...]`` → ``[]``.

    Raises:
        ValueError: shapes differ, the critic returns something else than one score (map) per
            sample, or an unknown ``reduction``.

    Example:
        >>> critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
        >>> gp = gradient_penalty(critic, torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2))
        >>> gp.ndim, bool(gp >= 0)
        (0, True)
    """
    grad = _critic_grad(critic, _interpolates(real, fake), reduction)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def wgan_div_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor, k: float = 2.0, p: float = 6.0,
                     reduction: Reduction = "sum") -> torch.Tensor:
    """WGAN-div gradient term ``k · E[‖∇D(x̂)‖₂^p]`` on random interpolates of real and fake samples.

    The paper's defaults ``k = 2``, ``p = 6``. The default ``reduction`` is ``"sum"`` (the gradient
    of the summed critic output, as the mask-wear trainer has always used), unlike
    :func:`gradient_penalty`'s ``"mean"``: with ``p = 6`` the two differ by ``P⁶`` for a map of
    ``P`` patches, so the choice is part of a trained model's recipe.

    Args:
        critic: the critic (see the module docstring).
        real: real batch ``[N, ...]``.
        fake: generated batch of the same shape.
        k: weight of the term.
        p: power of the gradient norm.
        reduction: per-sample score of a score map, ``"mean"`` or ``"sum"``.

    Returns:
        Scalar penalty (differentiable).

    Shape:
        ``real``, ``fake`` ``[N, ...]`` → ``[]``.

    Raises:
        ValueError: as :func:`gradient_penalty`.

    Example:
        >>> critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
        >>> bool(wgan_div_penalty(critic, torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2)) >= 0)
        True
    """
    grad = _critic_grad(critic, _interpolates(real, fake), reduction)
    return k * grad.flatten(1).norm(dim=1).pow(p).mean()


def r1_penalty(scores: torch.Tensor, reals: torch.Tensor) -> torch.Tensor:
    """R1 regulariser ``E[‖∇_x D(x)‖²]`` on real samples (multiply by ``γ / 2`` yourself).

    Args:
        scores: the critic's output for ``reals`` (any shape: its sum is differentiated, so pass
            per-sample logits ``[N]`` or any total of them).
        reals: the real batch ``[N, ...]`` the scores were computed from; it must require grad
            (``reals.detach().requires_grad_(True)`` before the critic's forward).

    Returns:
        Scalar: squared gradient norm per sample, averaged over the batch (differentiable).

    Shape:
        ``scores`` any, ``reals`` ``[N, ...]`` → ``[]``.

    Raises:
        ValueError: ``reals`` does not require grad.

    Example:
        >>> x = torch.randn(4, 3).requires_grad_(True)
        >>> float(r1_penalty((2 * x).sum(1), x))  # ∇ = 2 everywhere: 3 · 4 per sample
        12.0
    """
    if not reals.requires_grad:
        raise ValueError("reals must require grad (call reals.detach().requires_grad_(True) before the critic)")
    (grad,) = torch.autograd.grad(scores.sum(), reals, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def hinge_loss(logits: torch.Tensor, real: bool, for_discriminator: bool = True) -> torch.Tensor:
    """Hinge adversarial loss (Lim & Ye 2017; SPADE, SEAN).

    Args:
        logits: critic outputs, any shape.
        real: the samples are real (``True``) or generated.
        for_discriminator: the critic's loss ``mean(max(0, 1 ∓ D))``; else the generator's
            ``−mean(D)`` (``real`` is then ignored).

    Returns:
        Scalar loss.

    Example:
        >>> d = torch.tensor([3.0, 0.0])
        >>> float(hinge_loss(d, True)), float(hinge_loss(d, False)), float(hinge_loss(d, True, False))
        (0.5, 2.5, -1.5)
    """
    if not for_discriminator:
        return -logits.mean()
    return (F.relu(1 - logits) if real else F.relu(1 + logits)).mean()


def lsgan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Least-squares adversarial loss (Mao et al. 2017; pix2pixHD): ``mean((D − t)²)``, ``t = 1`` real, ``0`` fake.

    The generator's loss is the critic's with ``real=True``.

    Args:
        logits: critic outputs, any shape.
        real: target label of the samples.

    Returns:
        Scalar loss.

    Example:
        >>> float(lsgan_loss(torch.tensor([3.0]), True)), float(lsgan_loss(torch.tensor([3.0]), False))
        (4.0, 9.0)
    """
    return F.mse_loss(logits, torch.full_like(logits, 1.0 if real else 0.0))


def gan_loss(outputs: Sequence[Sequence[torch.Tensor]], real: bool, for_discriminator: bool,
             mode: str = "hinge") -> torch.Tensor:
    """Adversarial loss of a multi-scale discriminator, averaged over its scales.

    Args:
        outputs: one feature list per scale whose last entry is that scale's logits (what
            pix2pixHD's multi-scale discriminator returns).
        real: the pair is real.
        for_discriminator: the critic's loss (hinge margins) or the generator's; LSGAN uses the
            target ``real`` either way.
        mode: ``"hinge"`` (:func:`hinge_loss`, SEAN) or ``"lsgan"`` (:func:`lsgan_loss`, pix2pixHD).

    Returns:
        Scalar loss.

    Raises:
        ValueError: unknown ``mode`` or no scales.

    Example:
        >>> outs = [[torch.full((1, 1, 2, 2), 5.0)], [torch.zeros(1, 1, 1, 1)]]
        >>> float(gan_loss(outs, real=False, for_discriminator=True))  # (6 + 1) / 2
        3.5
    """
    if mode not in ("hinge", "lsgan"):
        raise ValueError(f"mode must be 'hinge' or 'lsgan', got {mode!r}")
    if not outputs:
        raise ValueError("outputs must hold at least one scale")
    total = torch.zeros((), device=outputs[0][-1].device)
    for feats in outputs:
        logits = feats[-1]
        if mode == "lsgan":
            total = total + lsgan_loss(logits, real)
        else:
            total = total + hinge_loss(logits, real, for_discriminator)
    return total / len(outputs)


def feature_matching_loss(fake: Sequence[Sequence[torch.Tensor]],
                          real: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """pix2pixHD feature matching: L1 between a critic's intermediate features of fake and real pairs.

    The real features are detached; each scale's last entry (the logits) is left out; the sum over
    layers is averaged over scales.

    Args:
        fake: per-scale feature lists of the generated pairs.
        real: per-scale feature lists of the real pairs (same structure).

    Returns:
        Scalar loss.

    Raises:
        ValueError: the two structures differ in their number of scales or layers.

    Example:
        >>> f = [[torch.ones(1, 2, 2, 2), torch.zeros(1, 1)]]
        >>> float(feature_matching_loss(f, [[torch.zeros(1, 2, 2, 2), torch.ones(1, 1)]]))
        1.0
    """
    if len(fake) != len(real) or any(len(f) != len(r) for f, r in zip(fake, real, strict=False)):
        raise ValueError("fake and real features must have the same scales and layers")
    total = torch.zeros((), device=fake[0][0].device)
    for f_scale, r_scale in zip(fake, real, strict=True):
        for f, r in zip(f_scale[:-1], r_scale[:-1], strict=True):
            total = total + F.l1_loss(f, r.detach())
    return total / len(fake)


def contextual_loss(x: torch.Tensor, y: torch.Tensor, h: float = 0.5, eps: float = 1e-5) -> torch.Tensor:
    """Contextual loss (Mechrez et al. 2018) between feature maps: ``−log CX(X, Y)`` averaged over the batch.

    For each sample, ``X = {x_i}`` and ``Y = {y_j}`` are the feature vectors at the positions of
    ``x`` and ``y``. Both are shifted by the mean ``μ_y`` of that sample's target features,
    ``d_ij`` is the cosine distance, ``d̃_ij = d_ij / (min_k d_ik + ε)``,
    ``w_ij = exp((1 − d̃_ij) / h)``, ``CX_ij = w_ij / Σ_k w_ik`` and
    ``CX(X, Y) = (1/|Y|) Σ_j max_i CX_ij``. Positions need not correspond (non-aligned data).

    Args:
        x: features of the generated image ``[N, C, H, W]``.
        y: features of the target ``[N, C, H', W']``.
        h: bandwidth of the similarity kernel (``> 0``).
        eps: numerical guard.

    Returns:
        Scalar loss (about 0 when every target feature has an identical generated feature).

    Shape:
        ``[N, C, H, W]``, ``[N, C, H', W']`` → ``[]``.

    Raises:
        ValueError: not 4-D, batch or channels differ, or ``h ≤ 0``.

    Example:
        >>> f = torch.randn(2, 8, 4, 4)
        >>> float(contextual_loss(f, f)) < 1e-3 < float(contextual_loss(torch.randn(2, 8, 4, 4), f))
        True
    """
    if x.ndim != 4 or y.ndim != 4 or x.shape[:2] != y.shape[:2]:
        raise ValueError(f"features must be [N, C, H, W] with the same N and C, got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    if not h > 0:
        raise ValueError(f"bandwidth h must be > 0, got {h}")
    xf, yf = x.flatten(2), y.flatten(2)
    mu = yf.mean(2, keepdim=True)  # μ_y per sample and channel, [N, C, 1]
    xn, yn = F.normalize(xf - mu, dim=1), F.normalize(yf - mu, dim=1)
    d = 1 - torch.bmm(xn.transpose(1, 2), yn)  # [N, Lx, Ly] cosine distances
    d = d / (d.min(2, keepdim=True).values + eps)
    w = torch.exp((1 - d) / h)
    cx = w / w.sum(2, keepdim=True)
    return -torch.log(cx.max(1).values.mean(1) + eps).mean()


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against label distributions (one-hot or mixed), averaged over the batch.

    Args:
        logits: ``[N, K]`` unnormalised scores.
        target: ``[N, K]`` distributions (rows summing to 1).

    Returns:
        Scalar ``−mean_n Σ_k target_nk · log softmax(logits)_nk``.

    Raises:
        ValueError: shapes differ or are not ``[N, K]``.

    Example:
        >>> round(float(soft_cross_entropy(torch.zeros(1, 4), torch.tensor([[0.5, 0.5, 0.0, 0.0]]))), 4)  # log 4
        1.3863
    """
    if logits.ndim != 2 or logits.shape != target.shape:
        raise ValueError(f"logits and target must both be [N, K], got {tuple(logits.shape)} and {tuple(target.shape)}")
    return -(target * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


# -- modules -------------------------------------------------------------------------------------

class GradientPenalty(nn.Module):
    """Module form of :func:`gradient_penalty`.

    Args:
        reduction: per-sample score of a score map, ``"mean"`` or ``"sum"``.

    Example:
        >>> critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
        >>> GradientPenalty()(critic, torch.rand(2, 3, 2, 2), torch.rand(2, 3, 2, 2)).ndim
        0
    """

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction: Reduction = reduction

    def forward(self, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return gradient_penalty(critic, real, fake, self.reduction)


class WGANDivPenalty(nn.Module):
    """Module form of :func:`wgan_div_penalty`.

    Args:
        k: weight of the term.
        p: power of the gradient norm.
        reduction: per-sample score of a score map.

    Example:
        >>> critic = nn.Sequential(nn.Flatten(), nn.Linear(12, 1))
        >>> WGANDivPenalty()(critic, torch.rand(2, 3, 2, 2), torch.rand(2, 3, 2, 2)).ndim
        0
    """

    def __init__(self, k: float = 2.0, p: float = 6.0, reduction: Reduction = "sum") -> None:
        super().__init__()
        self.k, self.p = k, p
        self.reduction: Reduction = reduction

    def forward(self, critic: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        return wgan_div_penalty(critic, real, fake, self.k, self.p, self.reduction)


class R1Penalty(nn.Module):
    """Module form of :func:`r1_penalty`.

    Example:
        >>> x = torch.randn(4, 3).requires_grad_(True)
        >>> float(R1Penalty()((2 * x).sum(1), x))
        12.0
    """

    def forward(self, scores: torch.Tensor, reals: torch.Tensor) -> torch.Tensor:
        return r1_penalty(scores, reals)


class GANLoss(nn.Module):
    """Module form of :func:`gan_loss` (multi-scale hinge or LSGAN).

    Args:
        mode: ``"hinge"`` or ``"lsgan"``.

    Raises:
        ValueError: unknown ``mode``.

    Example:
        >>> float(GANLoss("lsgan")([[torch.full((1, 1), 3.0)]], real=True, for_discriminator=True))
        4.0
    """

    def __init__(self, mode: str = "hinge") -> None:
        super().__init__()
        if mode not in ("hinge", "lsgan"):
            raise ValueError(f"mode must be 'hinge' or 'lsgan', got {mode!r}")
        self.mode = mode

    def forward(self, outputs: Sequence[Sequence[torch.Tensor]], real: bool, for_discriminator: bool) -> torch.Tensor:
        return gan_loss(outputs, real, for_discriminator, self.mode)


class FeatureMatchingLoss(nn.Module):
    """Module form of :func:`feature_matching_loss`.

    Example:
        >>> f = [[torch.ones(1, 2), torch.zeros(1, 1)]]
        >>> float(FeatureMatchingLoss()(f, [[torch.zeros(1, 2), torch.zeros(1, 1)]]))
        1.0
    """

    def forward(self, fake: Sequence[Sequence[torch.Tensor]], real: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
        return feature_matching_loss(fake, real)


class ContextualLoss(nn.Module):
    """Module form of :func:`contextual_loss`.

    Args:
        h: bandwidth of the similarity kernel (``> 0``).
        eps: numerical guard.

    Raises:
        ValueError: ``h ≤ 0``.

    Example:
        >>> f = torch.randn(1, 8, 3, 3)
        >>> float(ContextualLoss()(f, f)) < 1e-3
        True
    """

    def __init__(self, h: float = 0.5, eps: float = 1e-5) -> None:
        super().__init__()
        if not h > 0:
            raise ValueError(f"bandwidth h must be > 0, got {h}")
        self.h, self.eps = h, eps

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return contextual_loss(x, y, self.h, self.eps)


class SoftCrossEntropy(nn.Module):
    """Module form of :func:`soft_cross_entropy`.

    Example:
        >>> float(SoftCrossEntropy()(torch.tensor([[0.0, 20.0]]), torch.tensor([[0.0, 1.0]]))) < 1e-6
        True
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return soft_cross_entropy(logits, target)
