"""StyleGAN2 in plain PyTorch (Karras et al. 2020, "Analyzing and improving the image quality of
StyleGAN"), config-F layout at any power-of-two resolution: no custom CUDA ops are compiled.

* mapping network: pixel-normalised ``z`` → ``w`` through equalised-lr linear layers (lr × 0.01),
  tracking ``w_avg`` for the truncation trick;
* synthesis network: learned 4×4 constant, per resolution two modulated/demodulated 3×3 convs
  (the first upsamples 2×), per-pixel noise with a learned strength, a skip ToRGB (modulated 1×1,
  no demodulation) whose outputs are upsampled and summed;
* discriminator: residual blocks, minibatch standard deviation, optional conditioning on a
  scalar (the Diffusion-GAN timestep) by projection, as StyleGAN2-ADA conditions on labels;
* class conditioning (``c_dim`` / ``num_classes`` > 0, as TC-StyleGAN2 conditions lianpu on their
  category): the generator embeds the one-hot class, normalises it and feeds it beside ``z`` into
  the mapping network (StyleGAN2-ADA's conditional mapping; the truncation centre is the class's
  own running mean of ``w``), and the discriminator adds a projection term ``⟨embed(y), φ(x)⟩``
  (Miyato & Koyama 2018) to its logit;
* training (losses, R1, path-length regularisation, augmentations) is :mod:`engine.training.stylegan2`.

Upsampling and downsampling use bilinear resampling / average pooling in place of the original's
FIR [1, 3, 3, 1] filter (the same low-pass role, without the custom ``upfirdn2d`` op).

Sampling helpers: truncation ψ (:meth:`Generator.mapping`), style mixing (:meth:`Generator.mix`),
interpolation in ``w`` (:func:`interpolate_w`) or spherically in ``z`` (:func:`slerp`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.models.registry import register_model


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights scaled at run time by ``lr_mul / √in``).

    Args:
        in_features: input width.
        out_features: output width.
        bias_init: initial bias value (1 for style affines: modulation starts at identity).
        lr_mul: learning-rate multiplier (0.01 in the mapping network).
        activation: apply leaky ReLU (0.2) scaled by √2.
    """

    def __init__(self, in_features: int, out_features: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activation: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.activation else x


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel side (padding keeps the size).
        bias: add a learned bias.
        activation: leaky ReLU (0.2) × √2 after the conv.
        down: average-pool 2× after the conv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: bool = True, down: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.activation = activation
        self.down = down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.weight.shape[-1] // 2)
        if self.down:
            x = F.avg_pool2d(x, 2)
        return F.leaky_relu(x, 0.2) * math.sqrt(2) if self.activation else x


class MappingNetwork(nn.Module):
    """``z`` → ``w``: pixel norm then ``num_layers`` equalised-lr linear layers with leaky ReLU.

    Args:
        z_dim: latent size.
        w_dim: intermediate latent size.
        num_layers: depth (8 in the paper).
        lr_mul: learning-rate multiplier of every layer (0.01).
        w_avg_beta: decay of the running mean of ``w`` (truncation centre).
        c_dim: number of classes (0 = unconditional). Conditional: the one-hot class is embedded
            to ``z_dim``, both are pixel-normalised and concatenated, and ``w_avg`` is kept per
            class (``[c_dim, w_dim]``).
    """

    w_avg: torch.Tensor

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, lr_mul: float = 0.01,
                 w_avg_beta: float = 0.995, c_dim: int = 0) -> None:
        super().__init__()
        if c_dim < 0:
            raise ValueError(f"c_dim must be ≥ 0, got {c_dim}")
        self.c_dim = c_dim
        self.embed = EqualLinear(c_dim, z_dim) if c_dim > 0 else None
        dims = [z_dim * (2 if c_dim > 0 else 1)] + [w_dim] * num_layers
        self.layers = nn.Sequential(*[EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul, activation=True)
                                      for i in range(num_layers)])
        self.w_avg_beta = w_avg_beta
        self.register_buffer("w_avg", torch.zeros(c_dim, w_dim) if c_dim > 0 else torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, psi: float = 1.0, update_w_avg: bool = False,
                c: torch.Tensor | None = None) -> torch.Tensor:
        """``w`` ``[N, w_dim]``; ``psi < 1`` pulls it towards ``w_avg`` (truncation; per class when
        conditional). ``c``: class indices ``[N]`` (int64), required exactly when conditional."""
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)
        if self.embed is None:
            if c is not None:
                raise ValueError("this mapping network is unconditional: do not pass c")
            w = self.layers(z)
            if update_w_avg:
                self.w_avg.copy_(w.detach().mean(0).lerp(self.w_avg, self.w_avg_beta))
            return self.w_avg.lerp(w, psi) if psi != 1.0 else w
        c = check_labels(c, self.c_dim, z.shape[0])
        y = self.embed(F.one_hot(c, self.c_dim).to(z.dtype))
        y = y * torch.rsqrt(y.pow(2).mean(1, keepdim=True) + 1e-8)
        w = self.layers(torch.cat([z, y], 1))
        if update_w_avg:
            for k in torch.unique(c).tolist():
                self.w_avg[k].copy_(w.detach()[c == k].mean(0).lerp(self.w_avg[k], self.w_avg_beta))
        return self.w_avg[c].lerp(w, psi) if psi != 1.0 else w


def check_labels(c: torch.Tensor | None, num_classes: int, n: int) -> torch.Tensor:
    """Class indices ``c`` validated for a conditional network: ``[n]`` integers in ``0..num_classes-1``.

    Raises:
        ValueError: missing labels, wrong shape or dtype, or an index out of range.
    """
    if c is None:
        raise ValueError(f"this network is conditioned on {num_classes} classes: pass c")
    if c.ndim != 1 or c.shape[0] != n or c.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"c must be {n} integer class indices, got {tuple(c.shape)} {c.dtype}")
    if n and (int(c.min()) < 0 or int(c.max()) >= num_classes):
        raise ValueError(f"class indices must be in 0..{num_classes - 1}")
    return c.long()


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution with optional demodulation and 2× upsampling (grouped conv).

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: square kernel side.
        w_dim: style vector size.
        demodulate: normalise each output filter to unit norm (weight demodulation).
        up: bilinear 2× upsampling before the conv.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, w_dim: int,
                 demodulate: bool = True, up: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.affine = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.demodulate = demodulate
        self.up = up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        n, c, h, wd = x.shape
        style = self.affine(w)  # [N, in]
        weight = self.weight[None] * self.scale * style[:, None, :, None, None]  # [N, out, in, k, k]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            h, wd = h * 2, wd * 2
        out_c, k = weight.shape[1], weight.shape[-1]
        out = F.conv2d(x.reshape(1, n * c, h, wd), weight.reshape(n * out_c, c, k, k), padding=k // 2, groups=n)
        return out.reshape(n, out_c, h, wd)


class StyledLayer(nn.Module):
    """Modulated 3×3 conv + noise + bias + leaky ReLU.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        w_dim: style size.
        resolution: output side (for the fixed noise buffer).
        up: upsample 2× first.
    """

    noise_const: torch.Tensor

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, 3, w_dim, demodulate=True, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.register_buffer("noise_const", torch.randn(1, 1, resolution, resolution))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        x = self.conv(x, w)
        if noise_mode == "random":
            x = x + torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device) * self.noise_strength
        elif noise_mode == "const":
            x = x + self.noise_const * self.noise_strength
        elif noise_mode != "none":
            raise ValueError(f"noise_mode must be random, const or none, got {noise_mode!r}")
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * math.sqrt(2)


class ToRGB(nn.Module):
    """Modulated 1×1 conv (no demodulation) to image channels, plus bias.

    Args:
        in_channels: feature channels.
        img_channels: image channels.
        w_dim: style size.
    """

    def __init__(self, in_channels: int, img_channels: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, img_channels, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(img_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.view(1, -1, 1, 1)


def _channels(res: int, channel_base: int, channel_max: int) -> int:
    return int(min(channel_base // res, channel_max))


@register_model("stylegan2_generator")
class Generator(nn.Module):
    """StyleGAN2 generator (mapping + skip synthesis).

    Args:
        z_dim: latent size.
        w_dim: style size.
        img_resolution: output side (power of two ≥ 8).
        img_channels: output channels.
        channel_base: channels at resolution ``r`` are ``min(channel_base / r, channel_max)``.
        channel_max: channel cap.
        mapping_layers: depth of the mapping network.
        c_dim: number of classes the generator is conditioned on (0 = unconditional); every
            sampling method then takes class indices ``c``.
    """

    def __init__(self, z_dim: int = 128, w_dim: int = 128, img_resolution: int = 64, img_channels: int = 3,
                 channel_base: int = 4096, channel_max: int = 256, mapping_layers: int = 4, c_dim: int = 0) -> None:
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 8 or 2 ** log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of two ≥ 8, got {img_resolution}")
        self.z_dim, self.w_dim, self.img_resolution, self.img_channels = z_dim, w_dim, img_resolution, img_channels
        self.c_dim = c_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, c_dim=c_dim)
        c4 = _channels(4, channel_base, channel_max)
        self.const = nn.Parameter(torch.randn(1, c4, 4, 4))
        self.layers = nn.ModuleList([StyledLayer(c4, c4, w_dim, 4)])
        self.torgbs = nn.ModuleList([ToRGB(c4, img_channels, w_dim)])
        cin = c4
        for lv in range(3, log2 + 1):
            res = 2 ** lv
            cout = _channels(res, channel_base, channel_max)
            self.layers.append(StyledLayer(cin, cout, w_dim, res, up=True))
            self.layers.append(StyledLayer(cout, cout, w_dim, res))
            self.torgbs.append(ToRGB(cout, img_channels, w_dim))
            cin = cout
        self.num_ws = len(self.layers) + 1  # each conv + the last ToRGB (ToRGB i shares conv 2i+1's w)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "random") -> torch.Tensor:
        """Images ``[N, C, R, R]`` (about [-1, 1]) from per-layer styles ``ws`` ``[N, num_ws, w_dim]``."""
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must be [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        x = self.layers[0](x, ws[:, 0], noise_mode)
        img = self.torgbs[0](x, ws[:, 1])
        for i in range(1, len(self.torgbs)):
            x = self.layers[2 * i - 1](x, ws[:, 2 * i - 1], noise_mode)
            x = self.layers[2 * i](x, ws[:, 2 * i], noise_mode)
            img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False) + self.torgbs[i](x, ws[:, 2 * i + 1])
        return img

    def ws(self, z: torch.Tensor, psi: float = 1.0, update_w_avg: bool = False,
           c: torch.Tensor | None = None) -> torch.Tensor:
        """Broadcast styles ``[N, num_ws, w_dim]`` of latents ``z`` (truncated by ``psi``; class
        indices ``c`` ``[N]`` when conditional)."""
        return self.mapping(z, psi, update_w_avg, c)[:, None].expand(-1, self.num_ws, -1)

    def forward(self, z: torch.Tensor, psi: float = 1.0, noise_mode: str = "random",
                update_w_avg: bool = False, c: torch.Tensor | None = None) -> torch.Tensor:
        """Images from latents ``z`` ``[N, z_dim]`` (and class indices ``c`` when conditional)."""
        return self.synthesis(self.ws(z, psi, update_w_avg, c), noise_mode)

    def mix(self, z1: torch.Tensor, z2: torch.Tensor, crossover: int, psi: float = 1.0,
            noise_mode: str = "random", c: torch.Tensor | None = None) -> torch.Tensor:
        """Style mixing: layers ``< crossover`` take ``z1``'s styles (coarse), the rest ``z2``'s
        (both of classes ``c`` when conditional).

        Raises:
            ValueError: crossover outside ``0..num_ws``.
        """
        if not 0 <= crossover <= self.num_ws:
            raise ValueError(f"crossover must be in 0..{self.num_ws}, got {crossover}")
        w1, w2 = self.ws(z1, psi, c=c), self.ws(z2, psi, c=c)
        ws = torch.cat([w1[:, :crossover], w2[:, crossover:]], 1)
        return self.synthesis(ws, noise_mode)

    @torch.no_grad()
    def sample_images(self, seeds: list[int], psi: float = 1.0, labels: list[int] | None = None) -> np.ndarray:
        """``uint8`` RGB ``[N, R, R, 3]`` for integer seeds (constant noise: reproducible); ``labels``:
        one class index per seed, required exactly when conditional."""
        z = torch.stack([torch.from_numpy(np.random.default_rng(s).standard_normal(self.z_dim)).float() for s in seeds])
        c = None if labels is None else torch.tensor(labels, dtype=torch.int64, device=self.const.device)
        img = self(z.to(self.const.device), psi=psi, noise_mode="const", c=c)
        return to_uint8(img)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """``[N, 3, H, W]`` in [-1, 1] → ``uint8`` ``[N, H, W, 3]``."""
    return ((images.detach().clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def slerp(z1: torch.Tensor, z2: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation of latents (``t`` = 0 → ``z1``, 1 → ``z2``)."""
    a, b = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    omega = torch.acos((a * b).sum(-1, keepdim=True).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * z1 + (torch.sin(t * omega) / so) * z2


def interpolate_w(g: Generator, z1: torch.Tensor, z2: torch.Tensor, steps: int, psi: float = 1.0,
                  c: torch.Tensor | None = None) -> torch.Tensor:
    """Images along the straight line between the ``w`` of ``z1`` and ``z2`` ``[1, z_dim]``: ``[steps, C, R, R]``
    (class ``c`` ``[1]`` when conditional)."""
    w1, w2 = g.mapping(z1, psi, c=c), g.mapping(z2, psi, c=c)
    ts = torch.linspace(0, 1, steps, device=w1.device).view(-1, 1)
    w = w1.lerp(w2, ts)
    return g.synthesis(w[:, None].expand(-1, g.num_ws, -1), "const")


class DiscriminatorBlock(nn.Module):
    """Residual block: two 3×3 convs (the second downsamples) plus a 1×1 downsampling skip.

    Args:
        in_channels: input channels.
        out_channels: output channels.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = EqualConv2d(in_channels, in_channels, 3)
        self.conv1 = EqualConv2d(in_channels, out_channels, 3, down=True)
        self.skip = EqualConv2d(in_channels, out_channels, 1, bias=False, activation=False, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.skip(x) + self.conv1(self.conv0(x))) / math.sqrt(2)


@register_model("stylegan2_discriminator")
class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator, optionally conditioned on a scalar in [0, 1] (projection).

    Args:
        img_resolution: input side (power of two ≥ 8).
        img_channels: input channels.
        channel_base: channels at resolution ``r`` are ``min(channel_base / r, channel_max)``.
        channel_max: channel cap.
        mbstd_group: group size of the minibatch standard-deviation layer.
        cond_dim: size of the embedding of the conditioning scalar (0 = unconditional). The
            Diffusion-GAN augmentation passes the diffusion timestep ``t / T`` here.
        num_classes: classes of the projection term (0 = none): the logit gains
            ``⟨embed(c), φ(x)⟩ / √dim`` with ``φ`` the last hidden features.
    """

    def __init__(self, img_resolution: int = 64, img_channels: int = 3, channel_base: int = 4096,
                 channel_max: int = 256, mbstd_group: int = 4, cond_dim: int = 0, num_classes: int = 0) -> None:
        super().__init__()
        log2 = int(math.log2(img_resolution))
        if img_resolution < 8 or 2 ** log2 != img_resolution:
            raise ValueError(f"img_resolution must be a power of two ≥ 8, got {img_resolution}")
        self.from_rgb = EqualConv2d(img_channels, _channels(img_resolution, channel_base, channel_max), 1)
        blocks = []
        for lv in range(log2, 2, -1):
            blocks.append(DiscriminatorBlock(_channels(2 ** lv, channel_base, channel_max),
                                             _channels(2 ** (lv - 1), channel_base, channel_max)))
        self.blocks = nn.Sequential(*blocks)
        c4 = _channels(4, channel_base, channel_max)
        self.mbstd_group = mbstd_group
        self.conv = EqualConv2d(c4 + 1, c4, 3)
        self.fc = EqualLinear(c4 * 16, c4, activation=True)
        self.cond_dim = cond_dim
        self.out = EqualLinear(c4, max(1, cond_dim))
        self.cond_map = nn.Sequential(EqualLinear(16, cond_dim, activation=True), EqualLinear(cond_dim, cond_dim)) \
            if cond_dim > 0 else None
        if num_classes < 0:
            raise ValueError(f"num_classes must be ≥ 0, got {num_classes}")
        self.num_classes = num_classes
        self.class_embed = EqualLinear(num_classes, c4) if num_classes > 0 else None

    def _mbstd(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.mbstd_group, n)
        while n % g:
            g -= 1
        y = x.reshape(g, -1, c, h, w)
        y = (y - y.mean(0)).pow(2).mean(0).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # [N/g]
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], 1)

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None, c: torch.Tensor | None = None) -> torch.Tensor:
        """Logits ``[N]`` for images ``x`` ``[N, C, R, R]`` (and conditioning ``t`` ``[N]`` in [0, 1],
        class indices ``c`` ``[N]`` when built with ``num_classes``)."""
        n = x.shape[0]
        x = self.blocks(self.from_rgb(x))
        x = self.conv(self._mbstd(x))
        h = self.fc(x.flatten(1))
        x = self.out(h)
        if self.cond_map is None:
            logits = x[:, 0]
        else:
            if t is None:
                raise ValueError("this discriminator is conditioned: pass t")
            freqs = torch.exp(torch.arange(8, device=x.device) * (math.log(1000.0) / 7))
            emb = torch.cat([torch.sin(t[:, None] * freqs), torch.cos(t[:, None] * freqs)], 1)
            logits = (x * self.cond_map(emb)).sum(1) / math.sqrt(self.cond_dim)
        if self.class_embed is None:
            if c is not None:
                raise ValueError("this discriminator has no classes: do not pass c")
            return logits
        c = check_labels(c, self.num_classes, n)
        proj = self.class_embed(F.one_hot(c, self.num_classes).to(h.dtype))
        return logits + (proj * h).sum(1) / math.sqrt(h.shape[1])

