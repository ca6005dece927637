"""Structured pruning of RCAN and EDSR: fewer blocks (B), fewer residual groups (G), fewer channels.

Every function returns an ordinary, smaller model of the same class, built with
srlab.archs.build from the original's `srlab_config` with the changed argument (num_block,
num_group or num_feat), and filled with the original's kept weights. So the result saves with
srlab.checkpoints.save, loads with load_model and is measured like any other model. The input
model is not modified. Fine-tuning afterwards is ordinary training (srlab.train.train).

    small = prune_blocks(model, 10)        # RCAN: keep 10 RCABs in every group
    small = prune_groups(small, 5)         # keep 5 residual groups
    small = prune_channels(small, 48)      # keep 48 of the 64 feature channels

Which pieces are kept (criterion="l1", the default): the ones whose residual branch writes the
most, measured by the L1 norm (weights and bias) of the branch's last conv. That conv is the only
way a block adds to the stream, so a block whose last conv is zero contributes exactly nothing and
dropping it leaves the output unchanged: an RCAB is x + CA(conv(...)) and CA(0) = 0, a residual
group with its short skip is x + conv(...). criterion="first" keeps the first k in order (the
seed notes' implicit choice). Kept pieces stay in their original order.

Channels are scored by the L1 norm of the filters that write them (Li et al., "Pruning Filters for
Efficient ConvNets", ICLR 2017), with one constraint that residual networks add: every block adds
its output to the same trunk stream, so a trunk channel must be the same channel in every layer
(SRP and ASSL, papers/pruning.md, regularise towards such an aligned pattern during training).
The kept trunk set is therefore common to all layers and scored by the L1 norm summed over every
conv that writes into the stream: conv_first, the last conv of every block, the tail conv of every
RCAN group, and conv_after_body. The other channel sets are free and scored on their own:
- inside each block (the output of its first conv), by that conv's filters over the kept inputs;
- RCAN's channel attention squeezes num_feat to num_feat // squeeze_factor channels. We keep the
  paper's reduction ratio r = squeeze_factor, so the pruned model is exactly
  build("rcan", num_feat=new, ...), and prune the squeezed channels too, scored by the filters of
  the attention's first 1x1 conv over the kept inputs. (Keeping all squeezed channels would need a
  squeeze_factor that does not exist for most widths.) num_feat must stay >= squeeze_factor;
- after each pixel shuffle of the upsampler, by the upsampling conv's filters, summed over the r^2
  sub-pixel filters that pixel shuffle turns into one channel.
A channel whose writing filters and bias are all zero is zero everywhere, so pruning it leaves the
output unchanged up to float rounding."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from srlab.archs import build
from srlab.archs.edsr import EDSR
from srlab.archs.rcan import RCAN
from srlab.checks import check_int

CRITERIA = ("l1", "first")
_RCAN_SQUEEZE_FACTOR = inspect.signature(RCAN).parameters["squeeze_factor"].default


def block_scores(model: RCAN | EDSR) -> list[list[float]]:
    """L1 norm (weights + bias) of the last conv of every block: RCAN one list per group, EDSR one
    list for its single trunk."""
    return [[_l1(_last_conv(block)) for block in blocks] for blocks in _block_lists(model)]


def group_scores(model: RCAN) -> list[float]:
    """L1 norm (weights + bias) of every RCAN residual group's tail conv."""
    _check_model(model, RCAN)
    return [_l1(group.conv) for group in model.body]


def channel_scores(model: RCAN | EDSR) -> Tensor:
    """(num_feat,) score of each trunk channel: the L1 norm of its filter (and bias) summed over
    every conv that writes into the residual stream (see the module docstring)."""
    return sum(_filter_l1(conv) for conv in _stream_writers(model))


def prune_blocks(model: RCAN | EDSR, num_block: int, *, criterion: str = "l1") -> RCAN | EDSR:
    """A copy of `model` with `num_block` blocks: RCAN keeps that many RCABs in every group (its
    num_block is one number for all groups), EDSR that many residual blocks."""
    lists = _block_lists(model)
    _check_count(num_block, len(lists[0]), "num_block")
    small = _rebuild(model, num_block=num_block)
    keep = [_choose(scores, num_block, criterion) for scores in block_scores(model)]
    _copy(small, model, ("conv_first", "conv_after_body", "upsample", "conv_last"))
    for new_blocks, old_blocks, kept in zip(_block_lists(small), lists, keep, strict=True):
        for new_block, index in zip(new_blocks, kept, strict=True):
            new_block.load_state_dict(old_blocks[index].state_dict())
    if isinstance(model, RCAN):
        for new_group, old_group in zip(small.body, model.body, strict=True):
            new_group.conv.load_state_dict(old_group.conv.state_dict())
    return small


def prune_groups(model: RCAN, num_group: int, *, criterion: str = "l1") -> RCAN:
    """A copy of an RCAN with `num_group` residual groups."""
    _check_model(model, RCAN)
    _check_count(num_group, len(model.body), "num_group")
    small = _rebuild(model, num_group=num_group)
    kept = _choose(group_scores(model), num_group, criterion)
    _copy(small, model, ("conv_first", "conv_after_body", "upsample", "conv_last"))
    for new_group, index in zip(small.body, kept, strict=True):
        new_group.load_state_dict(model.body[index].state_dict())
    return small


@torch.no_grad()
def prune_channels(model: RCAN | EDSR, num_feat: int) -> RCAN | EDSR:
    """A copy of `model` with `num_feat` feature channels, chosen by L1 norm (module docstring)."""
    _check_model(model, (RCAN, EDSR))
    old_feat = model.conv_first.out_channels
    _check_count(num_feat, old_feat, "num_feat")
    if isinstance(model, RCAN) and _attention(model.body[0].residual_group[0]) is not None:
        kwargs = model.srlab_config["kwargs"] if hasattr(model, "srlab_config") else {}
        squeeze_factor = kwargs.get("squeeze_factor", _RCAN_SQUEEZE_FACTOR)
        if num_feat < squeeze_factor:
            raise ValueError(
                f"num_feat={num_feat} leaves channel attention no channel: it squeezes to "
                f"num_feat // squeeze_factor, so num_feat must be >= {squeeze_factor}"
            )
    small = _rebuild(model, num_feat=num_feat)
    trunk = _top(channel_scores(model), num_feat)  # one set for every layer on the stream

    _slice_conv(small.conv_first, model.conv_first, out_idx=trunk, in_idx=None)
    for new_blocks, old_blocks in zip(_block_lists(small), _block_lists(model), strict=True):
        for new_block, old_block in zip(new_blocks, old_blocks, strict=True):
            _prune_block(new_block, old_block, trunk)
    if isinstance(model, RCAN):
        for new_group, old_group in zip(small.body, model.body, strict=True):
            _slice_conv(new_group.conv, old_group.conv, out_idx=trunk, in_idx=trunk)
    _slice_conv(small.conv_after_body, model.conv_after_body, out_idx=trunk, in_idx=trunk)

    # Upsampler: conv to r^2 * C channels, pixel shuffle to C channels at r times the size.
    # Output channel c of the shuffle is conv channels c * r^2 ... c * r^2 + r^2 - 1.
    kept = trunk
    new_convs = [m for m in small.upsample if isinstance(m, nn.Conv2d)]
    old_convs = [m for m in model.upsample if isinstance(m, nn.Conv2d)]
    for new_conv, old_conv in zip(new_convs, old_convs, strict=True):
        r2 = old_conv.out_channels // old_feat  # r^2 sub-pixel filters per shuffled channel
        sub_pixel_l1 = _filter_l1(old_conv, in_idx=kept).view(old_feat, r2).sum(1)  # (old_feat,)
        shuffled = _top(sub_pixel_l1, num_feat)
        conv_out = (shuffled[:, None] * r2 + torch.arange(r2)).flatten()  # (num_feat * r^2,)
        _slice_conv(new_conv, old_conv, out_idx=conv_out, in_idx=kept)
        kept = shuffled
    _slice_conv(small.conv_last, model.conv_last, out_idx=None, in_idx=kept)
    return small


def _prune_block(new: nn.Module, old: nn.Module, trunk: Tensor) -> None:
    """Copy one RCAB or ResidualBlockNoBN onto its narrower twin: both convs read/write the trunk
    set, the block's inner channels and CA's squeezed channels are chosen on their own."""
    first, last = _first_conv(old), _last_conv(old)
    inner = _top(_filter_l1(first, in_idx=trunk), _first_conv(new).out_channels)
    _slice_conv(_first_conv(new), first, out_idx=inner, in_idx=trunk)
    _slice_conv(_last_conv(new), last, out_idx=trunk, in_idx=inner)
    old_ca, new_ca = _attention(old), _attention(new)
    if old_ca is not None:
        squeeze, expand = old_ca[1], old_ca[3]  # 1x1 convs: num_feat -> num_feat // r -> num_feat
        squeezed = _top(_filter_l1(squeeze, in_idx=trunk), new_ca[1].out_channels)
        _slice_conv(new_ca[1], squeeze, out_idx=squeezed, in_idx=trunk)
        _slice_conv(new_ca[3], expand, out_idx=trunk, in_idx=squeezed)


def _block_lists(model: nn.Module) -> list[nn.Sequential]:
    """The sequences of residual blocks: one per RCAN group, EDSR's single trunk."""
    _check_model(model, (RCAN, EDSR))
    if isinstance(model, RCAN):
        return [group.residual_group for group in model.body]
    return [model.body]


def _first_conv(block: nn.Module) -> nn.Conv2d:
    return block.rcab[0] if hasattr(block, "rcab") else block.conv1


def _last_conv(block: nn.Module) -> nn.Conv2d:
    """The conv that ends a block's residual branch (RCAB: before channel attention)."""
    return block.rcab[2] if hasattr(block, "rcab") else block.conv2


def _attention(block: nn.Module) -> nn.Sequential | None:
    """An RCAB's channel attention layers (pool, conv, ReLU, conv, sigmoid), or None."""
    if hasattr(block, "rcab") and len(block.rcab) > 3:
        return block.rcab[3].attention
    return None


def _stream_writers(model: nn.Module) -> list[nn.Conv2d]:
    """Every conv whose output is added into (or starts) the trunk's residual stream."""
    convs = [model.conv_first]
    for blocks in _block_lists(model):
        convs += [_last_conv(block) for block in blocks]
    if isinstance(model, RCAN):
        convs += [group.conv for group in model.body]
    return convs + [model.conv_after_body]


def _filter_l1(conv: nn.Conv2d, in_idx: Tensor | None = None) -> Tensor:
    """(out_channels,) L1 norm of each output filter (over the input channels in_idx, default
    all) plus the absolute bias."""
    weight = conv.weight.detach() if in_idx is None else conv.weight.detach()[:, in_idx]
    l1 = weight.abs().sum(dim=(1, 2, 3))
    return l1 + conv.bias.detach().abs() if conv.bias is not None else l1


def _l1(conv: nn.Conv2d) -> float:
    return float(_filter_l1(conv).sum())


def _top(scores: Tensor, k: int) -> Tensor:
    """Indices of the k highest scores, in increasing order (kept channels keep their order)."""
    return torch.topk(scores.cpu(), k).indices.sort().values


def _choose(scores: Sequence[float], k: int, criterion: str) -> list[int]:
    """Indices of the k pieces to keep, in their original order."""
    if criterion == "first":
        return list(range(k))
    if criterion == "l1":
        return _top(torch.tensor(scores, dtype=torch.float64), k).tolist()
    raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")


def _slice_conv(
    new: nn.Conv2d, old: nn.Conv2d, *, out_idx: Tensor | None, in_idx: Tensor | None
) -> None:
    """new.weight = old.weight[out_idx][:, in_idx] (None: all), and the bias likewise."""
    weight = old.weight if out_idx is None else old.weight[out_idx]
    weight = weight if in_idx is None else weight[:, in_idx]
    new.weight.copy_(weight)
    if old.bias is not None:
        new.bias.copy_(old.bias if out_idx is None else old.bias[out_idx])


def _copy(new: nn.Module, old: nn.Module, names: tuple[str, ...]) -> None:
    for name in names:
        getattr(new, name).load_state_dict(getattr(old, name).state_dict())


def _rebuild(model: nn.Module, **changes: int) -> nn.Module:
    """The model srlab.archs.build makes from model.srlab_config with `changes` applied, on the
    model's device and dtype and in its mode; srlab_config records the new arguments."""
    config = getattr(model, "srlab_config", None)
    if not config or "arch" not in config:
        raise ValueError(
            "pruning needs model.srlab_config (the arch name and arguments): build the model with "
            "srlab.archs.build or load it with srlab.checkpoints.load_model"
        )
    param = next(model.parameters())
    small = build(config["arch"], **{**config.get("kwargs", {}), **changes})
    return small.to(device=param.device, dtype=param.dtype).train(model.training)


def _check_model(model: nn.Module, kinds) -> None:
    if not isinstance(model, kinds):
        names = [k.__name__ for k in (kinds if isinstance(kinds, tuple) else (kinds,))]
        raise TypeError(f"model must be one of {names}, got {type(model).__name__}")


def _check_count(value: int, current: int, name: str) -> None:
    check_int(value, name, low=1, high=current)  # at most what the model has
