"""CoCosNet-style exemplar colouring at tiny size: shapes, correspondence, training steps, checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.models.cocosnet import CoCosNet, PatchDiscriminator
from engine.nn.losses import contextual_loss
from engine.procedural.lianpu import generate_lianpu
from engine.training.cocosnet import pseudo_exemplar, train_step
from engine.weights.store import load_checkpoint, save_checkpoint


def _pairs(n: int = 4, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    ds = [generate_lianpu(s, size=64) for s in range(n)]
    import cv2

    sk = np.stack([cv2.resize(d.line_art, (size, size), interpolation=cv2.INTER_AREA) for d in ds])
    im = np.stack([cv2.resize(d.image, (size, size), interpolation=cv2.INTER_AREA) for d in ds])
    return (torch.from_numpy(sk)[:, None].float() / 127.5 - 1,
            torch.from_numpy(im).permute(0, 3, 1, 2).float() / 127.5 - 1)


def test_forward_shapes() -> None:
    torch.manual_seed(0)
    net = CoCosNet(width=8, feat_channels=16, corr_down=2)
    sk, im = _pairs(2)
    out = net(sk, im)
    assert out["image"].shape == (2, 3, 32, 32) and out["warped"].shape == (2, 3, 32, 32)
    assert out["cycle"].shape == out["exemplar_small"].shape == (2, 3, 4, 4)
    assert out["image"].abs().max() <= 1
    assert PatchDiscriminator(8)(sk, im).ndim == 4


def test_warp_with_sharp_temperature_copies_exemplar_colours() -> None:
    torch.manual_seed(0)
    net = CoCosNet(width=8, feat_channels=16, corr_down=1, temperature=1e-4)
    sk, im = _pairs(1)
    c = net.correspond(sk, im)
    # nearly every warped cell is one exemplar cell (cells with tied features blend)
    w = c["warped_small"].flatten(2)[0].T  # [L, 3]
    y = c["exemplar_small"].flatten(2)[0].T
    assert (torch.cdist(w, y).min(1).values < 1e-2).float().mean() > 0.9
    soft = CoCosNet(width=8, feat_channels=16, corr_down=1, temperature=10.0)
    soft.load_state_dict(net.state_dict())
    ws = soft.correspond(sk, im)["warped_small"].flatten(2)[0].T
    assert (torch.cdist(ws, y).min(1).values < 1e-2).float().mean() < 0.5  # a soft τ averages colours


def test_contextual_loss_and_pseudo_exemplar() -> None:
    x = torch.randn(1, 8, 4, 4)
    assert contextual_loss(x, x) < contextual_loss(x, torch.randn(1, 8, 4, 4))
    img = torch.full((2, 3, 16, 16), -1.0)
    ex = pseudo_exemplar(img, strength=0.3)
    assert ex.shape == img.shape and ex.max() <= 1 + 1e-6


def test_training_steps_lower_the_loss() -> None:
    torch.manual_seed(1)
    net, disc = CoCosNet(width=8, feat_channels=16), PatchDiscriminator(8)
    opt_g = torch.optim.Adam(net.parameters(), 2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), 2e-3, betas=(0.5, 0.999))
    sk, im = _pairs(2)
    first = train_step(net, disc, opt_g, opt_d, sk, im)
    for _ in range(3):
        last = train_step(net, disc, opt_g, opt_d, sk, im)
    assert set(first) >= {"l1", "perceptual", "contextual", "domain", "cycle", "adversarial", "d_loss"}
    assert last["l1"] < first["l1"]


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(2)
    net = CoCosNet(width=8, feat_channels=16).eval()
    card = save_checkpoint(net, tmp_path / "cocos", task="test")
    net2, c = load_checkpoint(card, device="cpu")
    sk, im = _pairs(1)
    with torch.no_grad():
        assert torch.allclose(net(sk, im)["image"], net2(sk, im)["image"], atol=1e-6)
    assert c.kwargs["temperature"] == 0.01
