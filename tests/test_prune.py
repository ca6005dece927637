"""Structured pruning: smaller models of the same class with the parameter counts of the formulas
below, and exact equivalence when the pruned pieces contribute nothing (which they are made to)."""

import math

import pytest
import torch
from torch import nn

from srlab import prune
from srlab.archs import build
from srlab.archs.edsr import EDSR
from srlab.archs.rcan import RCAN
from srlab.checkpoints import load_model, save
from srlab.complexity import count_params


def conv_params(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


def upsampler_params(c: int, scale: int) -> int:
    if scale == 3:
        return conv_params(c, 9 * c, 3)
    return int(math.log2(scale)) * conv_params(c, 4 * c, 3)


def rcan_params(c: int, g: int, b: int, r: int, scale: int, use_ca: bool = True) -> int:
    """RCAN (Zhang et al. 2018): head, G groups of B RCABs (conv, conv, CA 1x1 C->C//r->C) and a
    tail conv each, the trunk's tail conv, the upsampler and the last conv."""
    ca = conv_params(c, c // r, 1) + conv_params(c // r, c, 1) if use_ca else 0
    rcab = 2 * conv_params(c, c, 3) + ca
    body = g * (b * rcab + conv_params(c, c, 3)) + conv_params(c, c, 3)
    return conv_params(3, c, 3) + body + upsampler_params(c, scale) + conv_params(c, 3, 3)


def edsr_params(c: int, b: int, scale: int) -> int:
    body = b * 2 * conv_params(c, c, 3) + conv_params(c, c, 3)
    return conv_params(3, c, 3) + body + upsampler_params(c, scale) + conv_params(c, 3, 3)


def small_rcan(scale: int = 2, **overrides) -> RCAN:
    torch.manual_seed(0)
    kwargs = dict(upscale=scale, num_feat=16, num_group=3, num_block=4, squeeze_factor=4)
    return build("rcan", **{**kwargs, **overrides}).eval()


def small_edsr(scale: int = 2) -> EDSR:
    torch.manual_seed(0)
    return build("edsr", upscale=scale, num_feat=16, num_block=4).eval()


def lr_image() -> torch.Tensor:
    return torch.rand(1, 3, 10, 12, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_pruned_rcan_is_an_rcan_with_the_formula_param_count(scale):
    model = small_rcan(scale)
    assert count_params(model) == rcan_params(16, 3, 4, 4, scale)  # the formula itself is right
    cases = [
        (prune.prune_blocks(model, 2), rcan_params(16, 3, 2, 4, scale)),
        (prune.prune_groups(model, 1), rcan_params(16, 1, 4, 4, scale)),
        (prune.prune_channels(model, 8), rcan_params(8, 3, 4, 4, scale)),
    ]
    for small, expected in cases:
        assert type(small) is RCAN
        assert count_params(small) == expected
        assert small(lr_image()).shape == (1, 3, 10 * scale, 12 * scale)
    assert cases[2][0].srlab_config["kwargs"]["num_feat"] == 8
    assert count_params(model) == rcan_params(16, 3, 4, 4, scale)  # the original is untouched


def test_pruned_rcan_without_channel_attention():
    model = small_rcan(use_ca=False)
    assert count_params(prune.prune_channels(model, 4)) == rcan_params(4, 3, 4, 4, 2, use_ca=False)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_pruned_edsr_is_an_edsr_with_the_formula_param_count(scale):
    model = small_edsr(scale)
    assert count_params(model) == edsr_params(16, 4, scale)
    for small, expected in [
        (prune.prune_blocks(model, 1), edsr_params(16, 1, scale)),
        (prune.prune_channels(model, 12), edsr_params(12, 4, scale)),
    ]:
        assert type(small) is EDSR
        assert count_params(small) == expected
        assert small(lr_image()).shape == (1, 3, 10 * scale, 12 * scale)


@torch.no_grad()
def zero_(conv: nn.Conv2d, rows=None) -> None:
    """Zero the filters (and biases) of the given output channels, default all."""
    rows = slice(None) if rows is None else torch.as_tensor(rows, dtype=torch.long)
    conv.weight[rows] = 0
    conv.bias[rows] = 0


@pytest.mark.parametrize("arch", ["rcan", "edsr"])
def test_dropping_blocks_whose_last_conv_is_zero_leaves_the_output_unchanged(arch):
    model = small_rcan() if arch == "rcan" else small_edsr()
    blocks = prune._block_lists(model)
    for seq in blocks:  # blocks 0 and 2 of every group add nothing to the stream
        zero_(prune._last_conv(seq[0]))
        zero_(prune._last_conv(seq[2]))
    x = lr_image()
    small = prune.prune_blocks(model, 2)  # the L1 criterion must drop exactly those
    assert torch.equal(small(x), model(x))
    # Control: keeping the first two drops a live block, and the output changes.
    assert not torch.allclose(prune.prune_blocks(model, 2, criterion="first")(x), model(x))


def test_dropping_groups_whose_tail_conv_is_zero_leaves_the_output_unchanged():
    model = small_rcan()
    zero_(model.body[1].conv)
    assert prune.group_scores(model)[1] == 0
    x = lr_image()
    assert torch.equal(prune.prune_groups(model, 2)(x), model(x))
    assert not torch.allclose(prune.prune_groups(model, 2, criterion="first")(x), model(x))


def kill_channels(model: nn.Module, dead: list[int], squeeze_dead: list[int]) -> None:
    """Make channels `dead` exactly zero in every layer: zero every filter that writes them (the
    stream writers, each block's first conv, the r^2 sub-pixel filters of each upsampling conv)
    and, in RCAN, the squeezed attention channels `squeeze_dead`."""
    for conv in prune._stream_writers(model):
        zero_(conv, dead)
    for seq in prune._block_lists(model):
        for block in seq:
            zero_(prune._first_conv(block), dead)
            if prune._attention(block) is not None:
                zero_(prune._attention(block)[1], squeeze_dead)
    for conv in (m for m in model.upsample if isinstance(m, nn.Conv2d)):
        r2 = conv.out_channels // conv.in_channels
        zero_(conv, [c * r2 + k for c in dead for k in range(r2)])


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("arch", ["rcan", "edsr"])
def test_pruning_channels_that_are_zero_everywhere_leaves_the_output_unchanged(arch, scale):
    model = small_rcan(scale, squeeze_factor=2) if arch == "rcan" else small_edsr(scale)
    dead = [1, 4, 5, 9, 10, 15]  # 16 -> 10 channels; RCAN's attention squeezes 8 -> 5
    kill_channels(model, dead, squeeze_dead=[0, 3, 6])
    x = lr_image()
    small = prune.prune_channels(model, 10)
    torch.testing.assert_close(small(x), model(x), rtol=0, atol=1e-5)
    # Control: pruning to 9 must cut a live channel, and the output changes.
    assert (prune.prune_channels(model, 9)(x) - model(x)).abs().max() > 1e-3


def test_channel_scores_rank_zeroed_channels_last():
    model = small_rcan()
    kill_channels(model, [3, 7], squeeze_dead=[])
    scores = prune.channel_scores(model)
    assert scores.shape == (16,)
    assert set(torch.argsort(scores)[:2].tolist()) == {3, 7}
    assert scores[3] == scores[7] == 0


@pytest.mark.parametrize("step", ["blocks", "groups", "channels"])
def test_pruned_model_round_trips_through_a_checkpoint(step, tmp_path):
    model = small_rcan()
    small = {
        "blocks": lambda: prune.prune_blocks(model, 3),
        "groups": lambda: prune.prune_groups(model, 2),
        "channels": lambda: prune.prune_channels(model, 12),
    }[step]()
    path = save(tmp_path / "small.pth", small)
    loaded = load_model(path)
    x = lr_image()
    assert type(loaded) is RCAN
    assert torch.equal(loaded(x), small(x))


def test_first_criterion_keeps_the_first_blocks_in_order():
    model = small_edsr()
    small = prune.prune_blocks(model, 2, criterion="first")
    for new, old in zip(small.body, model.body[:2], strict=False):
        assert torch.equal(new.conv1.weight, old.conv1.weight)


def test_bad_arguments_are_refused():
    rcan, edsr = small_rcan(), small_edsr()
    with pytest.raises(TypeError, match="RCAN"):
        prune.prune_groups(edsr, 1)
    with pytest.raises(ValueError, match="num_block"):
        prune.prune_blocks(rcan, 5)
    with pytest.raises(ValueError, match="num_group"):
        prune.prune_groups(rcan, 0)
    with pytest.raises(ValueError, match="squeeze_factor"):
        prune.prune_channels(rcan, 3)  # squeeze_factor 4
    with pytest.raises(ValueError, match="criterion"):
        prune.prune_blocks(rcan, 2, criterion="random")
    with pytest.raises(ValueError, match="srlab_config"):
        prune.prune_blocks(RCAN(num_feat=8, num_group=1, num_block=2, squeeze_factor=4), 1)
