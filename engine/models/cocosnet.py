"""CoCosNet-style exemplar colouring (Zhang et al. 2020, "Cross-domain correspondence learning for
exemplar-based image translation"), sized for lianpu sketches on a CPU.

* Two feature-pyramid encoders map the sketch (domain A, 1 channel) and the colour exemplar
  (domain B, RGB) to a shared domain W at 1/4 resolution (domain-alignment loss: the features of a
  sketch and of its own colour image should agree).
* Correspondence: both feature maps are average-pooled by ``corr_down`` (memory: the matrix is
  ``(HW/16/corr_down²)²``), mean-centred and unit-normalised per position; ``softmax(M / τ)`` warps
  the equally pooled exemplar onto the sketch (``r_{y→x}``); the transposed matrix warps it back
  (``r_{y→x→y}``), whose distance to the exemplar is the cycle regulariser.
* A SPADE generator (Park et al. 2019) turns a learned constant into the image, each block
  normalised and modulated by the sketch and the warped exemplar.
* Training pairs are pseudo exemplars: a geometric deformation of the ground truth.
* Losses: L1 reconstruction, feature ("perceptual") and contextual losses on the exemplar
  encoder's features — there are no VGG weights here, which the paper uses for both —, domain
  alignment, cycle, hinge adversarial (patch discriminator). Weights are constructor arguments
  of :class:`CoCosLoss`; the defaults are this module's choice, not the paper's eq. 20 values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_model


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.InstanceNorm2d(cout, affine=True), nn.LeakyReLU(0.2))


class PyramidEncoder(nn.Module):
    """Feature pyramid (1/2, 1/4, 1/8) fused at 1/4 resolution.

    Args:
        in_channels: image channels.
        width: base channels.
        out_channels: channels of the shared domain W.
    """

    def __init__(self, in_channels: int, width: int, out_channels: int) -> None:
        super().__init__()
        self.d1 = _block(in_channels, width, 2)
        self.d2 = _block(width, width * 2, 2)
        self.d3 = _block(width * 2, width * 4, 2)
        self.fuse = nn.Sequential(_block(width * 2 + width * 4 + width, out_channels, 1),
                                  nn.Conv2d(out_channels, out_channels, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.d1(x)
        f2 = self.d2(f1)
        f3 = self.d3(f2)
        size = f2.shape[-2:]
        return self.fuse(torch.cat([F.avg_pool2d(f1, 2), f2, F.interpolate(f3, size=size, mode="bilinear",
                                                                            align_corners=False)], 1))


class SPADE(nn.Module):
    """Parameter-free instance norm modulated by a spatial condition.

    Args:
        channels: normalised channels.
        cond_channels: condition channels.
        hidden: hidden channels of the modulation convs.
    """

    def __init__(self, channels: int, cond_channels: int, hidden: int = 32) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(cond_channels, hidden, 3, 1, 1), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, 1, 1)
        self.beta = nn.Conv2d(hidden, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.shared(F.interpolate(cond, size=x.shape[-2:], mode="bilinear", align_corners=False))
        return self.norm(x) * (1 + self.gamma(h)) + self.beta(h)


class SPADEBlock(nn.Module):
    """SPADE residual block.

    Args:
        cin: input channels.
        cout: output channels.
        cond_channels: condition channels.
    """

    def __init__(self, cin: int, cout: int, cond_channels: int) -> None:
        super().__init__()
        mid = min(cin, cout)
        self.n0, self.c0 = SPADE(cin, cond_channels), nn.Conv2d(cin, mid, 3, 1, 1)
        self.n1, self.c1 = SPADE(mid, cond_channels), nn.Conv2d(mid, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1, bias=False) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = self.c0(F.leaky_relu(self.n0(x, cond), 0.2))
        h = self.c1(F.leaky_relu(self.n1(h, cond), 0.2))
        return self.skip(x) + h


@register_model("cocosnet")
class CoCosNet(nn.Module):
    """Correspondence + SPADE composition network.

    Args:
        width: base channels of encoders and generator.
        feat_channels: channels of the shared domain W.
        corr_down: extra average pooling of the 1/4-resolution features before correlation.
        temperature: softmax temperature τ of the correspondence (0.01 in the paper).
    """

    def __init__(self, width: int = 16, feat_channels: int = 64, corr_down: int = 2, temperature: float = 0.01) -> None:
        super().__init__()
        if corr_down < 1 or temperature <= 0:
            raise ValueError("need corr_down ≥ 1 and temperature > 0")
        self.enc_a = PyramidEncoder(1, width, feat_channels)
        self.enc_b = PyramidEncoder(3, width, feat_channels)
        self.corr_down, self.temperature = corr_down, temperature
        cond = 1 + 3
        self.head = nn.Conv2d(cond, width * 4, 3, 1, 1)
        self.blocks = nn.ModuleList([SPADEBlock(width * 4, width * 4, cond), SPADEBlock(width * 4, width * 2, cond),
                                     SPADEBlock(width * 2, width, cond)])
        self.to_rgb = nn.Conv2d(width, 3, 3, 1, 1)

    @staticmethod
    def _normalise(f: torch.Tensor) -> torch.Tensor:
        f = f - f.mean(1, keepdim=True)
        return F.normalize(f.flatten(2), dim=1)  # [N, C, L]

    def correspond(self, sketch: torch.Tensor, exemplar: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features, warped exemplar ``r_{y→x}`` (full size) and its cycle ``r_{y→x→y}`` (pooled grid).

        Args:
            sketch: ``[N, 1, H, W]`` in [-1, 1] (H, W multiples of ``8·corr_down``).
            exemplar: ``[N, 3, H, W]`` in [-1, 1].
        """
        fa, fb = self.enc_a(sketch), self.enc_b(exemplar)
        pa, pb = F.avg_pool2d(fa, self.corr_down), F.avg_pool2d(fb, self.corr_down)
        h, w = pa.shape[-2:]
        m = torch.bmm(self._normalise(pa).transpose(1, 2), self._normalise(pb))  # [N, La, Lb]
        y = F.adaptive_avg_pool2d(exemplar, (h, w)).flatten(2)  # [N, 3, Lb]
        attn = torch.softmax(m / self.temperature, dim=2)
        warped = torch.bmm(y, attn.transpose(1, 2)).view(-1, 3, h, w)
        back = torch.softmax(m.transpose(1, 2) / self.temperature, dim=2)  # [N, Lb, La]
        cycle = torch.bmm(warped.flatten(2), back.transpose(1, 2)).view(-1, 3, h, w)
        full = F.interpolate(warped, size=sketch.shape[-2:], mode="bilinear", align_corners=False)
        return {"fa": fa, "fb": fb, "warped": full, "warped_small": warped, "cycle": cycle,
                "exemplar_small": y.view(-1, 3, h, w)}

    def forward(self, sketch: torch.Tensor, exemplar: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"image": [N, 3, H, W] in [-1, 1], "warped": ..., ...}``."""
        c = self.correspond(sketch, exemplar)
        cond = torch.cat([sketch, c["warped"]], 1)
        x = self.head(F.interpolate(cond, scale_factor=0.25, mode="bilinear", align_corners=False))
        for i, blk in enumerate(self.blocks):
            x = blk(x, cond)
            if i < 2:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
        c["image"] = torch.tanh(self.to_rgb(F.leaky_relu(x, 0.2)))
        return c


@register_model("cocosnet_discriminator")
class PatchDiscriminator(nn.Module):
    """PatchGAN critic on (sketch, image) pairs, hinge loss.

    Args:
        width: base channels.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(4, width, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.utils.spectral_norm(nn.Conv2d(width, width * 2, 4, 2, 1)), nn.LeakyReLU(0.2),
                                 nn.utils.spectral_norm(nn.Conv2d(width * 2, width * 4, 4, 1, 1)), nn.LeakyReLU(0.2),
                                 nn.Conv2d(width * 4, 1, 3, 1, 1))

    def forward(self, sketch: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([sketch, image], 1))


def contextual_loss(x: torch.Tensor, y: torch.Tensor, h: float = 0.5) -> torch.Tensor:
    """Contextual loss (Mechrez et al. 2018) between feature maps ``[N, C, H, W]``."""
    xf, yf = x.flatten(2), y.flatten(2)
    mu = yf.mean(2, keepdim=True)
    xn, yn = F.normalize(xf - mu, dim=1), F.normalize(yf - mu, dim=1)
    d = 1 - torch.bmm(xn.transpose(1, 2), yn)  # [N, Lx, Ly] cosine distance
    d = d / (d.min(2, keepdim=True).values + 1e-5)
    w = torch.exp((1 - d) / h)
    cx = w / w.sum(2, keepdim=True)
    return -torch.log(cx.max(1).values.mean(1) + 1e-5).mean()


def pseudo_exemplar(image: torch.Tensor, strength: float = 0.15) -> torch.Tensor:
    """Random affine deformation (+ mirror) of ground-truth images ``[N, 3, H, W]`` (white border)."""
    n = image.shape[0]
    a = (torch.rand(n) * 2 - 1) * strength
    s = 1 + (torch.rand(n) * 2 - 1) * strength
    t = (torch.rand(n, 2) * 2 - 1) * strength
    flip = torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = s * torch.cos(a) * flip, -s * torch.sin(a)
    theta[:, 1, 0], theta[:, 1, 1] = s * torch.sin(a) * flip, s * torch.cos(a)
    theta[:, :, 2] = t
    grid = F.affine_grid(theta.to(image), list(image.shape), align_corners=False)
    return F.grid_sample(image - 1, grid, align_corners=False, padding_mode="zeros") + 1  # white outside


class CoCosLoss:
    """Loss weights of one training step.

    Args:
        l1: reconstruction L1 weight.
        perceptual: feature-matching weight on exemplar-encoder features.
        contextual: contextual loss weight (generated vs exemplar features).
        domain: domain-alignment weight (sketch vs ground-truth features in W).
        cycle: cycle correspondence weight.
        adversarial: hinge adversarial weight.
    """

    def __init__(self, l1: float = 1.0, perceptual: float = 1.0, contextual: float = 1.0, domain: float = 10.0,
                 cycle: float = 1.0, adversarial: float = 0.1) -> None:
        self.l1, self.perceptual, self.contextual = l1, perceptual, contextual
        self.domain, self.cycle, self.adversarial = domain, cycle, adversarial


def train_step(net: CoCosNet, disc: PatchDiscriminator, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
               sketch: torch.Tensor, truth: torch.Tensor, w: CoCosLoss = CoCosLoss(),
               exemplar: torch.Tensor | None = None) -> dict[str, float]:
    """One D then G step on (sketch, ground truth) pairs; returns the losses.

    ``exemplar`` defaults to pseudo exemplars (:func:`pseudo_exemplar` of the ground truth); pass
    cross-exemplar images (another design in the ground truth's colours) to train on those.
    """
    if exemplar is None:
        exemplar = pseudo_exemplar(truth)
    out = net(sketch, exemplar)
    fake = out["image"]
    d_loss = F.relu(1 - disc(sketch, truth)).mean() + F.relu(1 + disc(sketch, fake.detach())).mean()
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    f_fake, f_truth = net.enc_b(fake), net.enc_b(truth).detach()
    parts = {
        "l1": F.l1_loss(fake, truth),
        "perceptual": F.l1_loss(f_fake, f_truth),
        "contextual": contextual_loss(F.avg_pool2d(f_fake, 2), F.avg_pool2d(net.enc_b(exemplar).detach(), 2)),
        "domain": F.l1_loss(out["fa"], f_truth),
        "cycle": F.l1_loss(out["cycle"], out["exemplar_small"]),
        "adversarial": -disc(sketch, fake).mean(),
    }
    g_loss = sum(getattr(w, k) * v for k, v in parts.items())
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    logs = {k: float(v.detach()) for k, v in parts.items()}
    logs.update(d_loss=float(d_loss.detach()), g_loss=float(g_loss.detach()))
    return logs

