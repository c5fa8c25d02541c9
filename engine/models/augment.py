"""Discriminator augmentations for small data sets, each with an adaptive strength.

All three share the overfitting heuristic of StyleGAN2-ADA (Karras et al. 2020, "Training
generative adversarial networks with limited data"): ``r_t = E[sign(D(x_real))]`` over the last
``interval`` minibatches (4); the strength moves up by ``batch · interval / (kimg · 1000)`` when
``r_t`` exceeds the target (0.6, D is overconfident on reals) and down otherwise.

* :class:`ADA` — adaptive discriminator augmentation: per-sample, per-transform probability ``p``
  of x-flip, 90° rotation, integer translation, isotropic and anisotropic scaling, rotation,
  fractional translation (one affine per sample, reflection padding), then brightness, contrast
  and saturation. Applied to every image D sees (reals and fakes), differentiably.
* :class:`APA` — adaptive pseudo augmentation (Jiang et al. 2021, "Deceive D"): each real image
  in D's batch is replaced, with probability ``p`` (their ``λ``), by a generated image presented
  as real.
* :class:`DiffusionNoise` — Diffusion-GAN instance noise (Wang et al. 2022): both reals and fakes
  go through a forward diffusion ``x_t = √ᾱ_t x + √(1 − ᾱ_t) σ ε`` with ``t ∈ [0, T]``, and D is
  told ``t``; ``T = T_min + round(p · (T_max − T_min))`` with ``p`` adapted as above.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class AdaptiveStrength(nn.Module):
    """The shared ``r_t`` heuristic: a strength ``p`` in [0, 1] nudged every ``interval`` minibatches.

    Args:
        target: ``r_t`` target (0.6).
        interval: minibatches between adjustments (4).
        kimg: thousands of images for ``p`` to travel from 0 to 1 at full speed (500 in the paper;
            small values make it react fast on tiny runs).
        p_init: starting strength.
        p_max: cap of ``p``.
    """

    p_buf: torch.Tensor

    def __init__(self, target: float = 0.6, interval: int = 4, kimg: float = 500.0, p_init: float = 0.0,
                 p_max: float = 1.0) -> None:
        super().__init__()
        if not 0 < target < 1 or interval < 1 or kimg <= 0 or not 0 <= p_init <= p_max <= 1:
            raise ValueError("need 0 < target < 1, interval ≥ 1, kimg > 0, 0 ≤ p_init ≤ p_max ≤ 1")
        self.target, self.interval, self.kimg, self.p_max = target, interval, kimg, p_max
        self.register_buffer("p_buf", torch.tensor(float(p_init)))
        self._sign_sum = 0.0
        self._count = 0
        self._batches = 0
        self.last_rt: float | None = None

    @property
    def p(self) -> float:
        """Current strength."""
        return float(self.p_buf)

    def observe(self, real_logits: torch.Tensor) -> None:
        """Record ``sign(D(x_real))`` of one minibatch and adjust ``p`` every ``interval`` minibatches."""
        s = torch.sign(real_logits.detach()).float()
        self._sign_sum += float(s.sum())
        self._count += s.numel()
        self._batches += 1
        if self._batches % self.interval == 0 and self._count:
            rt = self._sign_sum / self._count
            step = math.copysign(1.0, rt - self.target) * (self._count / (self.kimg * 1000.0))
            self.p_buf.fill_(min(self.p_max, max(0.0, self.p + step)))
            self.last_rt = rt
            self._sign_sum, self._count = 0.0, 0
            self._on_update()

    def _on_update(self) -> None:
        """Hook for subclasses whose state follows ``p``."""


def _rand(n: int, p: float, device: torch.device) -> torch.Tensor:
    """``[N]`` float mask: 1 with probability ``p``."""
    return (torch.rand(n, device=device) < p).float()


class ADA(AdaptiveStrength):
    """Adaptive discriminator augmentation (geometric + colour subset of the ``bgc`` pipeline).

    Args:
        target: ``r_t`` target.
        interval: minibatches between ``p`` updates.
        kimg: speed of ``p`` (see :class:`AdaptiveStrength`).
        p_init: starting probability.
        p_max: cap.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Augment ``x`` ``[N, C, H, W]`` in [-1, 1] (identity when ``p == 0``)."""
        p = self.p
        if p <= 0:
            return x
        n, dev = x.shape[0], x.device
        eye = torch.eye(3, device=dev).repeat(n, 1, 1)

        def mat(a, b, c, d, tx, ty):
            m = torch.zeros(n, 3, 3, device=dev)
            m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = a, b, tx
            m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = c, d, ty
            m[:, 2, 2] = 1
            return m

        one, zero = torch.ones(n, device=dev), torch.zeros(n, device=dev)
        g = eye
        flip = 1 - 2 * _rand(n, p, dev) * torch.randint(0, 2, (n,), device=dev).float()
        g = g @ mat(flip, zero, zero, one, zero, zero)
        rot90 = _rand(n, p, dev) * torch.randint(0, 4, (n,), device=dev).float() * (math.pi / 2)
        g = g @ mat(torch.cos(rot90), -torch.sin(rot90), torch.sin(rot90), torch.cos(rot90), zero, zero)
        it = _rand(n, p, dev)[:, None] * (torch.rand(n, 2, device=dev) * 2 - 1) * 0.125 * 2
        g = g @ mat(one, zero, zero, one, it[:, 0], it[:, 1])
        s = torch.exp2(torch.randn(n, device=dev) * 0.2 * _rand(n, p, dev))
        g = g @ mat(s, zero, zero, s, zero, zero)
        p_rot = 1 - math.sqrt(max(0.0, 1 - p))  # two rotations: their union has probability p
        r1 = (torch.rand(n, device=dev) * 2 - 1) * math.pi * _rand(n, p_rot, dev)
        g = g @ mat(torch.cos(r1), -torch.sin(r1), torch.sin(r1), torch.cos(r1), zero, zero)
        an = torch.exp2(torch.randn(n, device=dev) * 0.2 * _rand(n, p, dev))
        g = g @ mat(an, zero, zero, 1 / an, zero, zero)
        r2 = (torch.rand(n, device=dev) * 2 - 1) * math.pi * _rand(n, p_rot, dev)
        g = g @ mat(torch.cos(r2), -torch.sin(r2), torch.sin(r2), torch.cos(r2), zero, zero)
        ft = torch.randn(n, 2, device=dev) * 0.125 * 2 * _rand(n, p, dev)[:, None]
        g = g @ mat(one, zero, zero, one, ft[:, 0], ft[:, 1])
        grid = F.affine_grid(g[:, :2], list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        # colour
        b = torch.randn(n, 1, 1, 1, device=dev) * 0.2 * _rand(n, p, dev).view(-1, 1, 1, 1)
        x = x + b
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        c = torch.exp2(torch.randn(n, 1, 1, 1, device=dev) * 0.5 * _rand(n, p, dev).view(-1, 1, 1, 1))
        x = (x - mean) * c + mean
        if x.shape[1] == 3:
            lum = x.mean(1, keepdim=True)
            sat = torch.exp2(torch.randn(n, 1, 1, 1, device=dev) * _rand(n, p, dev).view(-1, 1, 1, 1))
            x = (x - lum) * sat + lum
        return x


class APA(AdaptiveStrength):
    """Adaptive pseudo augmentation: generated images shown to D as real with probability ``p``.

    Args:
        target: ``r_t`` target.
        interval: minibatches between ``p`` updates.
        kimg: speed of ``p``.
        p_init: starting probability.
        p_max: cap.
    """

    def forward(self, reals: torch.Tensor, fakes: torch.Tensor) -> torch.Tensor:
        """``reals`` with each image replaced by the matching (detached) fake with probability ``p``."""
        if self.p <= 0:
            return reals
        if fakes.shape != reals.shape:
            raise ValueError(f"fakes {tuple(fakes.shape)} must match reals {tuple(reals.shape)}")
        m = _rand(reals.shape[0], self.p, reals.device).view(-1, 1, 1, 1)
        return reals * (1 - m) + fakes.detach() * m


class DiffusionNoise(AdaptiveStrength):
    """Diffusion-GAN instance noise with an adaptive maximum timestep ``T``.

    Args:
        t_min: smallest ``T``.
        t_max: largest ``T`` (the noise schedule spans ``t_max`` steps).
        beta_start: first β of the linear schedule.
        beta_end: last β.
        noise_std: σ of the added noise (images in [-1, 1]).
        priority: sample ``t`` with probability ∝ ``t`` (favouring noisier steps) instead of uniformly.
        target: ``r_t`` target.
        interval: minibatches between updates.
        kimg: speed of ``p`` (which sets ``T``).
        p_init: starting ``p``.
    """

    alphas_bar: torch.Tensor

    def __init__(self, t_min: int = 5, t_max: int = 500, beta_start: float = 1e-4, beta_end: float = 2e-2,
                 noise_std: float = 0.05, priority: bool = True, target: float = 0.6, interval: int = 4,
                 kimg: float = 100.0, p_init: float = 0.0) -> None:
        super().__init__(target, interval, kimg, p_init, 1.0)
        if not 1 <= t_min <= t_max:
            raise ValueError(f"need 1 ≤ t_min ≤ t_max, got {t_min}, {t_max}")
        self.t_min, self.t_max, self.noise_std, self.priority = t_min, t_max, noise_std, priority
        betas = torch.linspace(beta_start, beta_end, t_max, dtype=torch.float64)
        self.register_buffer("alphas_bar", torch.cumprod(1 - betas, 0).float())
        self.T = t_min
        self._on_update()

    def _on_update(self) -> None:
        self.T = int(min(self.t_max, max(self.t_min, self.t_min + round(self.p * (self.t_max - self.t_min)))))

    def sample_t(self, n: int, device: torch.device) -> torch.Tensor:
        """``[N]`` integer timesteps in ``0..T-1``."""
        if self.priority:
            w = torch.arange(1, self.T + 1, dtype=torch.float32, device=device)
            return torch.multinomial(w / w.sum(), n, replacement=True)
        return torch.randint(0, self.T, (n,), device=device)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_t, t / t_max)`` for images ``x`` in [-1, 1]."""
        t = self.sample_t(x.shape[0], x.device)
        ab = self.alphas_bar.to(x.device)[t].view(-1, 1, 1, 1)
        xt = ab.sqrt() * x + (1 - ab).sqrt() * self.noise_std * torch.randn_like(x)
        return xt, t.float() / self.t_max
