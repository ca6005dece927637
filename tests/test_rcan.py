"""srlab.archs.rcan: the Table 1 ablation switches remove exactly their piece.

use_ca=False removes the channel attention module of every RCAB (and only its parameters);
use_ssc=False and use_lsc=False remove the identity additions, which have no parameters."""

import pytest
import torch

from srlab.archs import build
from srlab.archs.rcan import RCAB, ChannelAttention, ResidualGroup


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_no_ca_removes_exactly_the_attention_parameters_at_paper_size():
    with torch.device("meta"):
        full = build("rcan_x2")
        no_ca = build("rcan_x2", use_ca=False)
        ca = ChannelAttention(64, squeeze_factor=16)
    assert num_params(ca) == (64 * 4 + 4) + (4 * 64 + 64) == 580
    assert num_params(no_ca) == num_params(full) - 10 * 20 * num_params(ca) == 15_328_643
    assert set(no_ca.state_dict()) == {k for k in full.state_dict() if ".rcab.3." not in k}


@pytest.mark.parametrize("switch", ["use_ssc", "use_lsc"])
def test_skip_switches_keep_every_parameter(switch):
    full = build("rcan", num_feat=16, num_group=2, num_block=2)
    ablated = build("rcan", num_feat=16, num_group=2, num_block=2, **{switch: False})
    assert num_params(ablated) == num_params(full)
    ablated.load_state_dict(full.state_dict(), strict=True)  # same keys, same shapes


def test_squeeze_factor_and_res_scale_are_arguments():
    model = build("rcan", num_feat=32, num_group=1, num_block=1, squeeze_factor=8, res_scale=0.5)
    squeeze = model.state_dict()["body.0.residual_group.0.rcab.3.attention.1.weight"]
    assert squeeze.shape == (32 // 8, 32, 1, 1)
    assert model.body[0].residual_group[0].res_scale == 0.5


def small_pair(**switch) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A small full RCAN and an ablated one carrying the same weights (where they exist)."""
    torch.manual_seed(0)
    full = build("rcan", num_feat=16, num_group=2, num_block=2, upscale=2).eval()
    ablated = build("rcan", num_feat=16, num_group=2, num_block=2, upscale=2, **switch).eval()
    keys = ablated.state_dict().keys()
    ablated.load_state_dict({k: v for k, v in full.state_dict().items() if k in keys})
    return full, ablated


@pytest.mark.parametrize("switch", ["use_ca", "use_ssc", "use_lsc"])
@torch.no_grad()
def test_each_switch_changes_the_output(switch):
    full, ablated = small_pair(**{switch: False})
    x = torch.rand(1, 3, 8, 8)
    assert (full(x) - ablated(x)).abs().max() > 1e-3


@torch.no_grad()
def test_rcab_without_ca_is_conv_relu_conv_plus_identity():
    block = RCAB(16, res_scale=0.5, use_ca=False)
    x = torch.randn(1, 16, 5, 5)
    conv1, conv2 = block.rcab[0], block.rcab[2]
    assert torch.allclose(block(x), x + 0.5 * conv2(torch.relu(conv1(x))), atol=1e-6)
    assert len(block.rcab) == 3


@torch.no_grad()
def test_group_without_ssc_drops_only_the_addition():
    torch.manual_seed(0)
    with_ssc = ResidualGroup(16, 2, squeeze_factor=4)
    without = ResidualGroup(16, 2, squeeze_factor=4, use_ssc=False)
    without.load_state_dict(with_ssc.state_dict(), strict=True)
    x = torch.randn(1, 16, 5, 5)
    assert torch.allclose(without(x), with_ssc(x) - x, atol=1e-5)
    # the tail conv is kept: the group is residual_group followed by conv
    assert torch.allclose(without(x), without.conv(without.residual_group(x)), atol=0)


@torch.no_grad()
def test_rcan_without_lsc_drops_only_the_long_addition():
    _, m = small_pair(use_lsc=False)
    x = torch.rand(1, 3, 8, 8)
    feat = m.body(m.conv_first((x - m.mean) * 255.0))
    expected = m.conv_last(m.upsample(m.conv_after_body(feat))) / 255.0 + m.mean
    assert torch.equal(m(x), expected)
