"""engine.nn.blocks: the standard battery per block (smoke, shapes, bad input, gradient, module ==
function, parameter names that checkpoints rely on), on every available device and two dtypes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.nn.blocks import (
    SPADE,
    AdaIN,
    AdaINResBlock,
    PyConv2d,
    ResidualBlock,
    SFTNorm,
    SFTResBlock,
    SPADEResBlock,
    adaptive_instance_norm,
    broadcast_codes,
)


def _seg(n: int, labels: int, side: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, labels, (n, side, side), generator=g)
    return F.one_hot(idx, labels).permute(0, 3, 1, 2).to(device, dtype)


def _instance_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), unbiased=False, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps)


# -- adaptive_instance_norm ----------------------------------------------------------------------

def test_adaptive_instance_norm_matches_the_formula(device: torch.device, dtype: torch.dtype) -> None:
    x = torch.randn(2, 3, 5, 4, device=device, dtype=dtype)
    s, b = torch.randn(2, 3, device=device, dtype=dtype), torch.randn(2, 3, device=device, dtype=dtype)
    want = _instance_norm(x) * s[:, :, None, None] + b[:, :, None, None]
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(adaptive_instance_norm(x, s, b), want, atol=tol, rtol=tol)
    sp, bp = torch.randn_like(x), torch.randn_like(x)  # per-pixel parameters
    torch.testing.assert_close(adaptive_instance_norm(x, sp, bp), _instance_norm(x) * sp + bp, atol=tol, rtol=tol)


@pytest.mark.parametrize(("x", "scale"), [
    (torch.zeros(3, 4, 4), torch.zeros(3, 4)),            # not 4-D
    (torch.zeros(2, 3, 4, 4), torch.zeros(2, 4)),         # wrong channels
    (torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 2, 2)),   # wrong map size
    (torch.zeros(2, 3, 4, 4), torch.zeros(3)),            # no batch
])
def test_adaptive_instance_norm_bad_input(x: torch.Tensor, scale: torch.Tensor) -> None:
    with pytest.raises(ValueError) as err:
        adaptive_instance_norm(x, scale, scale)
    assert "\n" not in str(err.value)


def test_adaptive_instance_norm_gradient() -> None:
    x = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    s = torch.randn(1, 2, dtype=torch.float64, requires_grad=True)
    b = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(adaptive_instance_norm, (x, s, b))


# -- AdaIN / SPADE / SFTNorm ---------------------------------------------------------------------

def test_adain_starts_as_instance_norm_and_equals_the_function(device: torch.device, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    m = AdaIN(4, 6).to(device, dtype)
    x, code = torch.randn(2, 4, 5, 5, device=device, dtype=dtype), torch.randn(2, 6, device=device, dtype=dtype)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(m(x, code), _instance_norm(x), atol=tol, rtol=tol)
    with torch.no_grad():
        m.affine.weight.normal_()
    scale, shift = m.affine(code).chunk(2, dim=1)
    assert torch.equal(m(x, code), adaptive_instance_norm(x, scale, shift))
    assert m(x, code).shape == x.shape


def test_adain_bad_code_and_gradient() -> None:
    m = AdaIN(4, 6).double()
    with pytest.raises(ValueError, match=r"code must be \[N, 6\]"):
        m(torch.zeros(2, 4, 3, 3, dtype=torch.float64), torch.zeros(2, 5, dtype=torch.float64))
    x = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    m(x, torch.randn(2, 6, dtype=torch.float64)).square().sum().backward()
    assert x.grad is not None and m.affine.weight.grad is not None and m.affine.weight.grad.abs().sum() > 0


def test_spade_equals_the_function_and_resizes_the_condition(device: torch.device, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    m = SPADE(8, 3, hidden=4).to(device, dtype)
    x, cond = torch.randn(2, 8, 4, 4, device=device, dtype=dtype), torch.randn(2, 3, 16, 16, device=device, dtype=dtype)
    h = m.shared(F.interpolate(cond, size=(4, 4), mode="bilinear", align_corners=False))
    assert torch.equal(m(x, cond), adaptive_instance_norm(x, 1 + m.gamma(h), m.beta(h)))
    with pytest.raises(ValueError, match="condition"):
        m(x, cond[0])


def test_broadcast_codes_gives_each_pixel_its_label_code() -> None:
    seg = _seg(2, 3, 5, torch.device("cpu"), torch.float32)
    codes = torch.randn(2, 3, 4)
    out = broadcast_codes(codes, seg)
    idx = seg.argmax(1)
    assert out.shape == (2, 4, 5, 5)
    assert torch.equal(out.permute(0, 2, 3, 1), codes[torch.arange(2)[:, None, None], idx])


def test_sftnorm_shapes_mix_and_bad_codes(device: torch.device, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    m = SFTNorm(8, 4, num_labels=3, hidden=5).to(device, dtype)
    x, seg = torch.randn(2, 8, 4, 4, device=device, dtype=dtype), _seg(2, 3, 8, device, dtype)
    codes = torch.randn(2, 3, 4, device=device, dtype=dtype)
    out = m(x, seg, codes)
    assert out.shape == x.shape and torch.isfinite(out).all()
    with torch.no_grad():  # a → 0: the label branch alone, the style codes do nothing
        m.mix.fill_(-1e4)
    other = codes + 5
    torch.testing.assert_close(m(x, seg, other), m(x, seg, codes))
    with pytest.raises(ValueError, match="codes must be"):
        m(x, seg, codes[:, :2])
    with pytest.raises(ValueError, match="label map"):
        m(x, seg[0], codes)


def test_sftnorm_gradient_reaches_every_parameter() -> None:
    torch.manual_seed(0)
    m = SFTNorm(4, 3, num_labels=2, hidden=4).double()
    x = torch.randn(1, 4, 4, 4, dtype=torch.float64, requires_grad=True)
    m(x, _seg(1, 2, 4, torch.device("cpu"), torch.float64), torch.randn(1, 2, 3, dtype=torch.float64)).sin().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


# -- residual blocks -----------------------------------------------------------------------------

def test_residual_block_shapes_and_bias_switch(device: torch.device, dtype: torch.dtype) -> None:
    x = torch.randn(2, 6, 5, 5, device=device, dtype=dtype)
    assert ResidualBlock(6).to(device, dtype)(x).shape == x.shape
    assert not any("bias" in k and k.startswith(("body.0", "body.3")) for k in ResidualBlock(6, bias=False).state_dict())
    blk = ResidualBlock(6).to(device, dtype)
    with torch.no_grad():  # a zero residual branch: the identity
        blk.body[4].weight.zero_()
        blk.body[4].bias.zero_()
    assert torch.equal(blk(x), x)


def test_conditional_residual_blocks_shapes_and_gradients(device: torch.device, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 8, 6, 6, device=device, dtype=dtype, requires_grad=True)
    a = AdaINResBlock(8, 5).to(device, dtype)
    out = a(x, torch.randn(2, 5, device=device, dtype=dtype))
    s = SPADEResBlock(8, 4, 3).to(device, dtype)
    out2 = s(x, torch.randn(2, 3, 12, 12, device=device, dtype=dtype))
    f = SFTResBlock(8, 4, 3).to(device, dtype)
    out3 = f(x, _seg(2, 3, 6, device, dtype), torch.randn(2, 3, 4, device=device, dtype=dtype))
    assert out.shape == x.shape and out2.shape == (2, 4, 6, 6) and out3.shape == x.shape
    (out.sum() + out2.sum() + out3.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert isinstance(SPADEResBlock(8, 8, 3).skip, torch.nn.Identity)


def test_parameter_names_are_the_checkpoints_names() -> None:
    """Renaming an attribute breaks strict loading of checkpoints/*.safetensors: pin the names."""
    assert sorted(AdaIN(2, 3).state_dict()) == ["affine.bias", "affine.weight"]
    assert sorted(SPADE(2, 3).state_dict()) == ["beta.bias", "beta.weight", "gamma.bias", "gamma.weight",
                                                "shared.0.bias", "shared.0.weight"]
    assert sorted(SFTNorm(2, 3, 4).state_dict()) == ["label.0.bias", "label.0.weight", "label.2.bias",
                                                     "label.2.weight", "mix", "per_label", "sft.bias", "sft.weight"]
    assert sorted(ResidualBlock(2).state_dict()) == [f"body.{i}.{p}" for i in (0, 1, 3, 4) for p in ("bias", "weight")]
    assert sorted(ResidualBlock(2, bias=False).state_dict()) == ["body.0.weight", "body.1.bias", "body.1.weight",
                                                                 "body.3.weight", "body.4.bias", "body.4.weight"]
    assert {k.split(".")[0] for k in AdaINResBlock(2, 3).state_dict()} == {"c1", "c2", "n1", "n2"}
    assert {k.split(".")[0] for k in SPADEResBlock(4, 2, 3).state_dict()} == {"n0", "c0", "n1", "c1", "skip"}
    assert {k.rsplit(".", 1)[0] for k in SFTResBlock(2, 3, 4).state_dict() if k.startswith("c")} == {"c1.1", "c2.1"}
    assert sorted(PyConv2d(4, 4, (3, 5), (1, 2)).state_dict()) == ["levels.0.bias", "levels.0.weight",
                                                                   "levels.1.bias", "levels.1.weight"]


# -- PyConv --------------------------------------------------------------------------------------

def test_pyconv_shapes_groups_and_gradient(device: torch.device, dtype: torch.dtype) -> None:
    m = PyConv2d(16, 32, (3, 5, 7, 9), (1, 4, 8, 8), stride=2).to(device, dtype)
    x = torch.randn(2, 16, 15, 15, device=device, dtype=dtype, requires_grad=True)
    out = m(x)
    assert out.shape == (2, 32, 8, 8)
    assert [lvl.groups for lvl in m.levels] == [1, 4, 8, 8]
    assert torch.equal(out[:, :8], m.levels[0](x))  # levels concatenated in order
    out.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in m.parameters())


@pytest.mark.parametrize(("args", "match"), [
    ((8, 8, (3, 5), (1,)), "same length"),
    ((8, 8, (), ()), "non-empty"),
    ((8, 9, (3, 5), (1, 1)), "split evenly"),
    ((6, 8, (3, 5), (1, 4)), "must divide"),
])
def test_pyconv_bad_configuration(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        PyConv2d(*args)
