"""engine.nn.features: EfficientNet-Lite0 is the real ImageNet network, its taps, the loss wrapper, the loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
import torch.nn.functional as F

from engine.errors import CheckpointError
from engine.nn.features import (
    LAYERS,
    EfficientNetLite0,
    ImageNetFeatures,
    VGG19Taps,
    imagenet_features,
    normalize_imagenet,
    perceptual_distance,
    same_pad,
)
from engine.weights import known_files
from engine.weights.catalog import EFFICIENTNET_LITE0_SHA256, list_models, load_imagenet_features

CAT_CLASSES = range(281, 286)  # ImageNet-1k: tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO, CUP = 967, 968


@pytest.fixture(scope="module")
def lite() -> ImageNetFeatures:
    """The packaged ImageNet EfficientNet-Lite0 (installed with the requirements)."""
    return load_imagenet_features("efficientnet_lite0", value_range="[0,1]")


def _top5(feats: ImageNetFeatures, rgb: np.ndarray) -> tuple[list[int], list[float]]:
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
    x = F.interpolate(x, size=(224, 224), mode="bilinear", antialias=True, align_corners=False)
    with torch.no_grad():
        p = feats.logits(x).softmax(1)[0]
    v, i = p.topk(5)
    return [int(k) for k in i], [float(k) for k in v]


def test_packaged_file_is_found_and_verified() -> None:
    path = known_files.find_weights(known_files.EFFICIENTNET_LITE0_FILES)
    assert path is not None and path.parent in known_files.package_dirs()
    entry = next(e for e in list_models(verify=True) if e.key == "efficientnet_lite0")
    assert entry.present and entry.sha256 == EFFICIENTNET_LITE0_SHA256
    assert entry.loadable and entry.sha256_ok and "Apache-2.0" in entry.licence


def test_real_imagenet_network_classifies_public_domain_pictures(lite: ImageNetFeatures) -> None:
    # measured: chelsea -> 285 Egyptian cat (p 0.79; 282, 281 next), coffee -> 967 espresso (p 0.88; 968 cup next)
    cls, prob = _top5(lite, skimage.data.chelsea())
    assert cls[0] in CAT_CLASSES and prob[0] > 0.5
    assert sum(c in CAT_CLASSES for c in cls[:3]) == 3
    cls, prob = _top5(lite, skimage.data.coffee())
    assert cls[0] == ESPRESSO and prob[0] > 0.5 and CUP in cls


def test_random_weights_do_not_classify() -> None:
    torch.manual_seed(0)
    feats = ImageNetFeatures(EfficientNetLite0(), "[0,1]", name="random")
    cls, prob = _top5(feats, skimage.data.chelsea())
    assert prob[0] < 0.5 or cls[0] not in CAT_CLASSES


def test_same_pad_matches_tensorflow() -> None:
    # TF SAME, stride 2, kernel 3 on 224: output 112, total pad 1 -> (0 left, 1 right)
    x = torch.arange(16.0).view(1, 1, 4, 4)
    y = same_pad(x, 3, 2)
    assert y.shape[-2:] == (5, 5) and torch.equal(y[..., :4, :4], x) and y[..., 4, :].abs().sum() == 0
    assert same_pad(x, 5, 1).shape[-2:] == (8, 8)
    assert same_pad(x, 1, 1) is x


@pytest.mark.parametrize(("kernel", "stride", "groups"), [(3, 1, 4), (5, 1, 4), (1, 1, 1), (3, 2, 4), (5, 2, 1)])
def test_same_conv_is_a_convolution_of_the_same_padded_input(kernel: int, stride: int, groups: int) -> None:
    """SameConv2d (which lets a stride-1 convolution pad by itself) gives what a convolution without
    padding gives on :func:`same_pad`'s input, on even and odd sides."""
    from engine.nn.features import SameConv2d

    torch.manual_seed(kernel * 10 + stride)
    conv = SameConv2d(4, 4, kernel, stride, groups=groups)
    for side in (12, 15):
        x = torch.randn(2, 4, side, side + 1)
        want = F.conv2d(same_pad(x, kernel, stride), conv.weight, None, stride, 0, 1, groups)
        got = conv(x)
        assert got.shape == want.shape == (2, 4, -(-side // stride), -(-(side + 1) // stride))
        assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("side", [32, 57])
def test_taps_shapes_and_order(side: int) -> None:
    net = EfficientNetLite0().eval()
    with torch.no_grad():
        feats = net.features(torch.zeros(2, 3, side, side), LAYERS)
    channels = [f.shape[1] for f in feats]
    assert channels == [16, 24, 40, 80, 112, 192, 320, 1280]
    strides = [2, 4, 8, 16, 16, 32, 32, 32]
    assert [f.shape[-1] for f in feats] == [-(-side // s) for s in strides]
    with torch.no_grad():
        a, b = net.features(torch.zeros(1, 3, side, side), ("stage3", "stage1"))
    assert (a.shape[1], b.shape[1]) == (40, 16)


def test_bad_input_is_refused(lite: ImageNetFeatures) -> None:
    with pytest.raises(ValueError, match="unknown feature layers"):
        lite(torch.zeros(1, 3, 16, 16), ("conv5",))
    with pytest.raises(ValueError, match=r"RGB \[N, 3, H, W\]"):
        lite(torch.zeros(1, 1, 16, 16))
    with pytest.raises(ValueError, match="value_range"):
        normalize_imagenet(torch.zeros(1, 3, 2, 2), "0-255")
    with pytest.raises(CheckpointError, match="unknown feature network"):
        load_imagenet_features("clip")


def test_value_ranges_agree(lite: ImageNetFeatures) -> None:
    x01 = torch.rand(2, 3, 32, 32)
    other = ImageNetFeatures(lite.net, "[-1,1]")
    with torch.no_grad():
        for a, b in zip(lite(x01), other(x01 * 2 - 1), strict=True):
            assert torch.allclose(a, b, atol=1e-5)


def test_frozen_eval_gradient_to_input(lite: ImageNetFeatures) -> None:
    wrapper = torch.nn.Sequential(lite)
    wrapper.train()
    assert not lite.net.training and not any(p.requires_grad for p in lite.parameters())
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    y = (torch.rand(1, 3, 32, 32) * 2 - 1)
    loss = perceptual_distance(ImageNetFeatures(lite.net, "[-1,1]"), x * 2 - 1, y)
    loss.backward()
    assert loss > 0 and x.grad is not None and x.grad.abs().sum() > 0
    assert float(perceptual_distance(ImageNetFeatures(lite.net), y, y)) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        perceptual_distance(lite, x, y[..., :16])


def test_module_equals_function(lite: ImageNetFeatures) -> None:
    x = torch.rand(2, 3, 40, 40)
    with torch.no_grad():
        a = lite(x, ("stage2", "stage5"))
        b = imagenet_features(lite.net, x, ("stage2", "stage5"), "[0,1]")
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_device_and_dtype_follow_the_module(lite: ImageNetFeatures, device: torch.device, dtype: torch.dtype) -> None:
    feats = ImageNetFeatures(EfficientNetLite0(), "[0,1]").to(device=device, dtype=dtype)
    feats.net.load_state_dict(lite.net.state_dict())
    x = torch.rand(1, 3, 32, 32, device=device, dtype=dtype)
    with torch.no_grad():
        (f,) = feats(x, ("stage4",))
        ref = lite(x.float().cpu(), ("stage4",))[0]
    assert f.device.type == device.type and f.dtype == dtype
    assert torch.allclose(f.float().cpu(), ref, atol=1e-3)


def test_vgg19_local_file_option(tmp_path: Path, monkeypatch) -> None:
    from engine._compat.torchvision_ops import ensure_torchvision

    tv = ensure_torchvision()
    with torch.device("meta"):  # no random init of 143 M parameters: uninitialised memory, then small values
        vgg = tv.models.vgg19(weights=None)
    vgg = vgg.to_empty(device=torch.device("cpu"))
    with torch.no_grad():
        for p in vgg.parameters():
            p.fill_(0.01)
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(vgg.state_dict(), path)
    del vgg
    # its name carries a hash prefix the random file cannot match: refused, as a corrupt download would be
    with pytest.raises(CheckpointError, match="does not match"):
        load_imagenet_features("vgg19", path)
    good = tmp_path / "my_vgg19.pth"
    path.rename(good)
    feats = load_imagenet_features("vgg19", good)
    assert isinstance(feats.net, VGG19Taps) and feats.name.startswith("vgg19")
    with torch.no_grad():
        out = feats(torch.zeros(1, 3, 32, 32))
    assert [f.shape[1] for f in out] == [64, 128, 256, 512, 512]
    assert [f.shape[1] for f in feats(torch.zeros(1, 3, 32, 32), feats.contextual_layers)] == [256, 512]
    with pytest.raises(TypeError, match="no classifier"):
        feats.logits(torch.zeros(1, 3, 32, 32))


def test_auto_prefers_the_packaged_network() -> None:
    assert load_imagenet_features().name.startswith("efficientnet_lite0")
    with pytest.raises(CheckpointError, match="explicit"):
        load_imagenet_features("auto", "x.pth")


def test_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="cannot read|not found") as exc:
        load_imagenet_features("efficientnet_lite0", tmp_path / "none.pth")
    assert "\n" not in str(exc.value)


def test_paper_losses_read_imagenet_features(lite: ImageNetFeatures, tmp_path: Path, monkeypatch) -> None:
    import engine.faces.thirdparty as tp
    from engine.models.cocosnet import CoCosNet, PatchDiscriminator
    from engine.training.cocosnet import train_step
    from engine.training.expression import contextual_term
    from engine.training.regen import PerceptualLoss

    feats = ImageNetFeatures(lite.net, "[-1,1]", name=lite.name)
    perceptual = PerceptualLoss.from_local_weights()
    assert perceptual.features is not None and "efficientnet_lite0" in perceptual.kind
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert float(perceptual(x, x)) == 0.0 and float(perceptual(x, -x)) > 0
    cx = contextual_term(feats, x.flip(3).requires_grad_(), x)
    assert torch.isfinite(cx) and cx > float(contextual_term(feats, x, x))
    torch.manual_seed(0)
    net, disc = CoCosNet(width=8, feat_channels=32, corr_down=2), PatchDiscriminator(width=8)
    opt_g, opt_d = torch.optim.Adam(net.parameters()), torch.optim.Adam(disc.parameters())
    logs = train_step(net, disc, opt_g, opt_d, torch.rand(2, 1, 32, 32) * 2 - 1, x, features=feats)
    assert all(np.isfinite(v) for v in logs.values()) and logs["perceptual"] > 0
    # an explicit VGG-19 request without its file fails in one line; auto never needs it
    monkeypatch.setattr(tp, "THIRD_PARTY_DIR", tmp_path)
    monkeypatch.setenv(tp.ENV_VAR, str(tmp_path))
    with pytest.raises(CheckpointError, match="vgg19-dcbb9e9d.pth not found"):
        PerceptualLoss.from_local_weights("vgg19")
