"""Video SR archs: SpyNet, BasicVSR (propagation/alignment variants, local propagation, oracle
flow), IconVSR (refill, coupled propagation, keyframes), EDVR and its deformable convolution.

Everything runs on CPU with tiny widths, except the manifest test, which builds the published
configurations (no forward pass) and compares them with BasicSR 1.4.2's state_dicts in
tests/data/basicsr_state_dicts.json.gz (see tests/data/README.md)."""

import importlib.util
import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from srlab.archs.basicvsr import BasicVSR, cut_links
from srlab.archs.dcn import DCNv2Pack, modulated_deform_conv2d
from srlab.archs.edvr import EDVR
from srlab.archs.iconvsr import IconVSR, keyframe_indices
from srlab.archs.spynet import SpyNet

TINY = dict(num_feat=8, num_block=1)


def translating_clip(t: int, size: int, shift: tuple[int, int], seed: int = 0):
    """A clip whose content moves by `shift` = (dx, dy) LR pixels per frame (crops of one random
    canvas, so every frame is real content), with its exact flows in BasicVSR's convention:
    frame_i[p] = frame_{i+1}[p + shift], so flows_backward = +shift, flows_forward = -shift."""
    g = torch.Generator().manual_seed(seed)
    dx, dy = shift
    margin = (t - 1) * max(abs(dx), abs(dy))
    canvas = torch.rand(3, size + 2 * margin, size + 2 * margin, generator=g)
    frames = [
        canvas[
            :, margin - i * dy : margin - i * dy + size, margin - i * dx : margin - i * dx + size
        ]
        for i in range(t)
    ]
    lqs = torch.stack(frames)[None]  # (1, t, 3, size, size)
    flow = torch.tensor([float(dx), float(dy)]).view(1, 1, 2, 1, 1).expand(1, t - 1, 2, size, size)
    return lqs, (-flow, flow)  # (flows_forward, flows_backward)


def random_flows(b: int, t: int, h: int, w: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return tuple(2 * torch.randn(b, t - 1, 2, h, w, generator=g) for _ in range(2))


# --- SpyNet -------------------------------------------------------------------------------------


def test_spynet_any_size_gives_flow_of_that_size():
    torch.manual_seed(0)
    flow = SpyNet()(torch.rand(2, 3, 13, 19), torch.rand(2, 3, 13, 19))
    assert flow.shape == (2, 2, 13, 19) and torch.isfinite(flow).all()


def test_spynet_rescales_each_axis_after_resizing(monkeypatch):
    # 13x40 runs at 32x64; a flow of 1 px at that size is 40/64 px in x and 13/32 px in y.
    net = SpyNet()
    monkeypatch.setattr(net, "process", lambda ref, supp: torch.ones(1, 2, *ref.shape[-2:]))
    flow = net(torch.rand(1, 3, 13, 40), torch.rand(1, 3, 13, 40))
    assert torch.allclose(flow[:, 0], torch.full((1, 13, 40), 40 / 64))
    assert torch.allclose(flow[:, 1], torch.full((1, 13, 40), 13 / 32))


def test_spynet_loads_a_basicsr_file_without_the_constant_buffers(tmp_path):
    src = SpyNet()
    state = {k: v for k, v in src.state_dict().items() if k not in ("mean", "std")}
    torch.save({"params": state}, tmp_path / "spynet.pth")
    loaded = SpyNet(load_path=str(tmp_path / "spynet.pth"))
    assert torch.equal(
        loaded.basic_module[5].basic_module[8].weight, state["basic_module.5.basic_module.8.weight"]
    )


def test_spynet_and_edvr_paths_go_through_srlab_checkpoints(tmp_path):
    from srlab.checkpoints import CheckpointMismatchError

    # DataParallel's "module." prefix is removed, as for every other checkpoint
    state = {f"module.{k}": v for k, v in SpyNet().state_dict().items()}
    torch.save({"params": state}, tmp_path / "ddp.pth")
    loaded = SpyNet(load_path=str(tmp_path / "ddp.pth"))
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[f"module.{key}"]), key
    # a wrong file is refused with the offending keys named, not loaded halfway
    bad = {**SpyNet().state_dict(), "extra.weight": torch.zeros(1)}
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointMismatchError, match="extra.weight"):
        SpyNet(load_path=str(tmp_path / "bad.pth"))
    edvr = IconVSR(**TINY_ICON).edvr.state_dict()
    edvr.pop("conv_first.weight")
    torch.save({"params": edvr}, tmp_path / "edvr.pth")
    with pytest.raises(CheckpointMismatchError, match="conv_first.weight"):
        IconVSR(**TINY_ICON, edvr_path=str(tmp_path / "edvr.pth"))


def test_spynet_errors():
    with pytest.raises(ValueError, match="same shape"):
        SpyNet()(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
    with pytest.raises(ValueError, match=r"ref must be a batch"):
        SpyNet()(torch.rand(3, 8, 8), torch.rand(3, 8, 8))


# --- BasicVSR -----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [16, 13])
def test_basicvsr_forward_shape_with_spynet(size):
    torch.manual_seed(0)
    out = BasicVSR(**TINY)(torch.rand(1, 3, 3, size, size))
    assert out.shape == (1, 3, 3, 4 * size, 4 * size) and torch.isfinite(out).all()


@pytest.mark.parametrize(
    "propagation, alignment, aligned",
    [
        ("bidirectional", "feature", True),
        ("unidirectional", "feature", True),
        ("bidirectional", "none", False),  # the same test fails without alignment
    ],
)
def test_feature_alignment_with_oracle_flow_follows_the_motion(propagation, alignment, aligned):
    # On a translating clip, an aligned network sees at frame i exactly what it would see on a
    # static clip of frame i (away from the borders): its output there must match.
    torch.manual_seed(0)
    model = BasicVSR(**TINY, propagation=propagation, alignment=alignment).eval()
    t, size, m = 3, 20, 8  # m: LR border excluded (receptive field + total shift)
    lqs, flows = translating_clip(t, size, shift=(1, -1))
    statics = lqs[0, :, None].expand(t, t, 3, size, size)  # batch item i: frame i, t times
    zero = torch.zeros(t, t - 1, 2, size, size)
    with torch.no_grad():
        out = model(lqs, flows=flows)[0]  # (t, 3, 4 size, 4 size)
        static = model(statics, flows=(zero, zero)).diagonal(dim1=0, dim2=1).movedim(-1, 0)
    diff = (out - static)[..., 4 * m : -4 * m, 4 * m : -4 * m].abs().amax(dim=(1, 2, 3))
    assert ((diff < 1e-5) == aligned).all(), diff  # ~1e-7 aligned, ~1e-3 not


def test_image_alignment_feeds_the_warped_neighbour():
    torch.manual_seed(0)
    model = BasicVSR(**TINY, alignment="image").eval()
    assert model.backward_trunk.main[0].in_channels == 8 + 6
    seen = []
    model.backward_trunk.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    lqs, flows = translating_clip(3, 12, shift=(2, 1))
    with torch.no_grad():
        model(lqs, flows=flows)
    last, *others = seen  # the backward branch starts at the last frame: no neighbour
    assert last[:, 3:6].abs().max() == 0
    for x in others:  # the warped next frame equals the current frame, except at the border
        assert torch.allclose(x[:, 3:6, 2:-2, 2:-2], x[:, 0:3, 2:-2, 2:-2], atol=1e-5)


def test_segments_equal_running_each_segment_separately():
    torch.manual_seed(0)
    model = BasicVSR(**TINY).eval()
    lqs = torch.rand(1, 5, 3, 8, 8)
    ff, fb = random_flows(1, 5, 8, 8)
    with torch.no_grad():
        whole = model(lqs, flows=(ff, fb), segments=2)  # segments of 3 and 2 frames
        first = model(lqs[:, :3], flows=(ff[:, :2], fb[:, :2]))
        second = model(lqs[:, 3:], flows=(ff[:, 3:], fb[:, 3:]))
        unsplit = model(lqs, flows=(ff, fb))
    assert torch.allclose(whole, torch.cat([first, second], dim=1), atol=1e-6)
    assert not torch.allclose(whole, unsplit, atol=1e-3)


def test_interval_limits_lookahead_but_keeps_the_forward_branch():
    torch.manual_seed(0)
    model = BasicVSR(**TINY).eval()
    lqs = torch.rand(1, 6, 3, 8, 8)
    flows = random_flows(1, 6, 8, 8)
    later_changed = lqs.clone()
    later_changed[:, 3:] = torch.rand(1, 3, 3, 8, 8)
    first_changed = lqs.clone()
    first_changed[:, 0] = torch.rand(3, 8, 8)

    def run(x, **kw):
        with torch.no_grad():
            return model(x, flows=flows, **kw)

    # The first chunk's output never waits for the next chunk ... (at random init the influence
    # of a frame decays fast along the recurrence, hence exact comparisons)
    assert torch.equal(run(lqs, interval=3)[:, :3], run(later_changed, interval=3)[:, :3])
    assert not torch.equal(run(lqs)[:, :3], run(later_changed)[:, :3])
    # ... while the (causal) forward branch still carries frame 0 into the second chunk.
    assert not torch.equal(run(lqs, interval=3)[:, 3:], run(first_changed, interval=3)[:, 3:])
    assert torch.equal(run(lqs, segments=2)[:, 3:], run(first_changed, segments=2)[:, 3:])


def test_cut_links():
    assert cut_links(5, segments=2) == ({2}, {2})
    assert cut_links(7, segments=3) == ({2, 4}, {2, 4})  # segment sizes 3, 2, 2
    assert cut_links(7, interval=3) == (set(), {2, 5})
    assert cut_links(4) == (set(), set())


def test_unidirectional_has_a_comparable_budget():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    bi = BasicVSR(num_feat=64, num_block=30)
    uni = BasicVSR(num_feat=64, num_block=30, propagation="unidirectional")
    assert count(bi) == 6_291_311 and count(uni) == 6_244_399
    assert len(uni.forward_trunk.main[2]) == 60 and not hasattr(uni, "backward_trunk")
    assert abs(count(uni) - count(bi)) / count(bi) < 0.01


@pytest.mark.parametrize("propagation, calls", [("bidirectional", 2), ("unidirectional", 1)])
def test_spynet_runs_only_for_the_directions_the_model_uses(propagation, calls):
    model = BasicVSR(**TINY, propagation=propagation)
    seen = []
    model.spynet.register_forward_hook(lambda *_: seen.append(1))
    with torch.no_grad():
        model(torch.rand(1, 3, 3, 8, 8))
    assert len(seen) == calls  # one batched call per direction


def test_basicvsr_errors():
    model = BasicVSR(**TINY)
    with pytest.raises(ValueError, match="at least 2 frames"):
        model(torch.rand(1, 1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(b, t, c, h, w\)"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="3 channels"):
        model(torch.rand(1, 2, 1, 8, 8))
    lqs = torch.rand(1, 3, 3, 8, 8)
    ff, fb = random_flows(1, 3, 8, 8)
    with pytest.raises(ValueError, match="flows_backward must have shape"):
        model(lqs, flows=(ff, fb[:, :1]))
    with pytest.raises(ValueError, match="flows_forward must have shape"):
        model(lqs, flows=(ff.movedim(2, -1), fb))
    with pytest.raises(ValueError, match="missing"):
        model(lqs, flows={"flow_forward": ff})
    with pytest.raises(TypeError, match="pair"):
        model(lqs, flows=ff)
    with pytest.raises(ValueError, match="segments"):
        model(lqs, flows=(ff, fb), segments=4)
    with pytest.raises(ValueError, match="interval"):
        model(lqs, flows=(ff, fb), interval=0)
    with pytest.raises(ValueError, match="propagation"):
        BasicVSR(**TINY, propagation="sideways")
    with pytest.raises(ValueError, match="alignment"):
        BasicVSR(**TINY, alignment="optical")


def test_oracle_flow_dict_uses_the_dataset_keys():
    torch.manual_seed(0)
    model = BasicVSR(**TINY).eval()
    lqs = torch.rand(1, 3, 3, 8, 8)
    ff, fb = random_flows(1, 3, 8, 8)
    with torch.no_grad():
        a = model(lqs, flows={"flow_forward": ff, "flow_backward": fb})
        b = model(lqs, flows=(ff, fb))
        c = model(lqs, flows=(fb, ff))
    assert torch.equal(a, b) and not torch.allclose(a, c, atol=1e-4)


# --- Modulated deformable convolution -----------------------------------------------------------


def shifted(x: torch.Tensor, dy: int, dx: int, pad: int) -> torch.Tensor:
    """x zero-padded by `pad`, read at (y + dy, x + dx): what a conv with padding `pad` sees when
    every tap is displaced by (dy, dx)."""
    big = 4
    xb = F.pad(x, [pad + big] * 4)
    h, w = x.shape[-2:]
    return xb[..., big + dy : big + dy + h + 2 * pad, big + dx : big + dx + w + 2 * pad]


@pytest.mark.parametrize("stride, padding, dilation", [(1, 1, 1), (2, 1, 1), (1, 2, 2)])
def test_dcn_zero_offset_is_a_conv_with_the_mask_scaling_each_tap(stride, padding, dilation):
    torch.manual_seed(0)
    x, weight, bias = torch.rand(2, 8, 7, 9), torch.randn(6, 8, 3, 3), torch.randn(6)
    dg = 2
    ref = F.conv2d(x, weight, bias, stride, padding, dilation)
    h_out, w_out = ref.shape[-2:]
    tap_mask = torch.rand(dg, 9)  # one value per deformable group and tap
    mask = tap_mask.view(1, dg * 9, 1, 1).expand(2, dg * 9, h_out, w_out)
    offset = torch.zeros(2, 2 * dg * 9, h_out, w_out)
    out = modulated_deform_conv2d(x, offset, mask, weight, bias, stride, padding, dilation)
    # input channels 0-3 belong to deformable group 0, 4-7 to group 1
    scale = tap_mask.repeat_interleave(4, dim=0).view(1, 8, 3, 3)
    expected = F.conv2d(x, weight * scale, bias, stride, padding, dilation)
    assert torch.allclose(out, expected, atol=1e-5)


def test_dcn_integer_and_half_pixel_offsets_are_shifted_convs():
    # offset layout (dg, taps, 2) with y first: group 0 moves by (dy, dx) = (1, -2), group 1 by
    # (0, 0.5), which bilinear sampling turns into the mean of the shifts by 0 and 1.
    torch.manual_seed(0)
    x, weight = torch.rand(1, 8, 6, 7), torch.randn(5, 8, 3, 3)
    per_group = torch.tensor([[1.0, -2.0], [0.0, 0.5]])  # (dg, yx)
    offset = per_group[:, None, :].expand(2, 9, 2).reshape(1, 36, 1, 1).expand(1, 36, 6, 7)
    out = modulated_deform_conv2d(x, offset, torch.ones(1, 18, 6, 7), weight, padding=1)
    g0 = shifted(x[:, :4], 1, -2, pad=1)
    g1 = (shifted(x[:, 4:], 0, 0, pad=1) + shifted(x[:, 4:], 0, 1, pad=1)) / 2
    expected = F.conv2d(torch.cat([g0, g1], dim=1), weight)
    assert torch.allclose(out, expected, atol=1e-5)


def test_dcnv2pack_chunks_offsets_and_mask_like_basicsr():
    torch.manual_seed(0)
    dcn = DCNv2Pack(8, 4, 3, padding=1, deformable_groups=2)
    x, feat = torch.rand(1, 8, 5, 6), torch.rand(1, 8, 5, 6)
    # at init conv_offset is zero: offsets 0, masks sigmoid(0) = 0.5
    assert torch.allclose(dcn(x, feat), F.conv2d(x, dcn.weight, padding=1) * 0.5, atol=1e-5)
    # chunks [o1, o2, mask]; cat(o1, o2) interleaves (dy, dx): even channels are dy
    with torch.no_grad():
        dcn.conv_offset.bias[:36:2] = 1.0  # dy = 1 for every group and tap
        dcn.conv_offset.bias[36:] = 30.0  # mask = sigmoid(30) = 1
        dcn.bias.fill_(0.25)
    expected = F.conv2d(shifted(x, 1, 0, pad=1), dcn.weight) + 0.25
    assert torch.allclose(dcn(x, feat), expected, atol=1e-5)


def naive_dcn(x, offset, mask, weight, padding):
    """DCNv2 straight from its definition, one bilinear sample at a time (stride 1, dilation 1),
    with torchvision's layout: offset channel 2 * (g * taps + k) is dy, the next one dx."""
    b, c, h, w = x.shape
    kh, kw = weight.shape[-2:]
    dg, h_out, w_out = mask.shape[1] // (kh * kw), *mask.shape[-2:]
    cg = c // dg
    cols = torch.zeros(b, c, kh * kw, h_out, w_out)

    def at(img, y, x):  # zeros outside the image
        return img[:, y, x] if 0 <= y < h and 0 <= x < w else torch.zeros(cg)

    for n, g, k, oy, ox in itertools.product(
        range(b), range(dg), range(kh * kw), range(h_out), range(w_out)
    ):
        dy, dx = offset[n, 2 * (g * kh * kw + k) : 2 * (g * kh * kw + k) + 2, oy, ox].tolist()
        y, x_ = oy - padding + k // kw + dy, ox - padding + k % kw + dx
        y0, x0 = math.floor(y), math.floor(x_)
        ly, lx = y - y0, x_ - x0
        img = x[n, g * cg : (g + 1) * cg]
        value = (
            (1 - ly) * (1 - lx) * at(img, y0, x0)
            + (1 - ly) * lx * at(img, y0, x0 + 1)
            + ly * (1 - lx) * at(img, y0 + 1, x0)
            + ly * lx * at(img, y0 + 1, x0 + 1)
        )
        cols[n, g * cg : (g + 1) * cg, k, oy, ox] = mask[n, g * kh * kw + k, oy, ox] * value
    return torch.einsum("bckhw,ock->bohw", cols, weight.flatten(2))


def test_dcn_random_offsets_match_the_definition():
    torch.manual_seed(0)
    x, weight = torch.rand(1, 4, 5, 6), torch.randn(3, 4, 3, 3)
    offset, mask = 1.5 * torch.randn(1, 2 * 2 * 9, 5, 6), torch.rand(1, 2 * 9, 5, 6)
    out = modulated_deform_conv2d(x, offset, mask, weight, padding=1)
    assert torch.allclose(out, naive_dcn(x, offset, mask, weight, padding=1), atol=1e-5)


# torchvision.ops.deform_conv2d (0.29.1) on four cases: 1, 8, 2 (dilation 2) and 4 deformable
# groups, the last with offsets large enough to sample outside the image. PyPI's torchvision does
# not import beside the CPU torch wheel, so its outputs are committed (tests/data/README.md).
DCN_GOLDEN = Path(__file__).parent / "data" / "deform_conv_torchvision.npz"
DCN_CASES = ["g1_k3", "g8_k3", "g2_k3_dil2", "g4_k3_big_offsets"]


@pytest.mark.parametrize("case", DCN_CASES)
def test_pure_dcn_matches_torchvision(case):
    with np.load(DCN_GOLDEN) as f:
        t = {
            k.split("/", 1)[1]: torch.from_numpy(f[k]) for k in f.files if k.startswith(case + "/")
        }
    stride, padding, dilation = t["stride_padding_dilation"].tolist()
    ours = modulated_deform_conv2d(
        t["input"], t["offset"], t["mask"], t["weight"], t["bias"], stride, padding, dilation
    )
    assert ours.shape == t["output"].shape
    torch.testing.assert_close(ours, t["output"], rtol=1e-5, atol=1e-6)  # seen: 2.4e-7


def test_dcn_golden_cases_are_all_tested():
    with np.load(DCN_GOLDEN) as f:
        assert sorted({k.split("/")[0] for k in f.files}) == sorted(DCN_CASES)


def test_dcn_shape_error():
    with pytest.raises(ValueError, match="deformable groups"):
        modulated_deform_conv2d(
            torch.rand(1, 4, 5, 5),
            torch.zeros(1, 17, 5, 5),
            torch.ones(1, 9, 5, 5),
            torch.randn(4, 4, 3, 3),
            padding=1,
        )


# --- EDVR ---------------------------------------------------------------------------------------

TINY_EDVR = dict(num_feat=16, num_extract_block=1, num_reconstruct_block=1)


@pytest.mark.parametrize("h, w", [(12, 16), (13, 18)])  # 13x18: padded to 16x20, cropped back
def test_edvr_forward_shape(h, w):
    torch.manual_seed(0)
    out = EDVR(**TINY_EDVR).eval()(torch.rand(1, 5, 3, h, w))
    assert out.shape == (1, 3, 4 * h, 4 * w) and torch.isfinite(out).all()


def test_edvr_variants():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 3, 8, 8)
    no_tsa = EDVR(**TINY_EDVR, num_frame=3, with_tsa=False).eval()
    assert isinstance(no_tsa.fusion, torch.nn.Conv2d) and no_tsa(x).shape == (1, 3, 32, 32)
    deblur = EDVR(**TINY_EDVR, with_predeblur=True, hr_in=True).eval()
    assert deblur(torch.rand(1, 5, 3, 32, 36)).shape == (1, 3, 32, 36)  # same-size restoration
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(EDVR(with_tsa=False)) == 2_996_259  # papers.md, computed with BasicSR


def test_edvr_output_is_a_residual_over_the_centre_frame():
    torch.manual_seed(0)
    model = EDVR(**TINY_EDVR, center_frame_idx=1).eval()
    torch.nn.init.zeros_(model.conv_last.weight)
    torch.nn.init.zeros_(model.conv_last.bias)
    x = torch.rand(1, 5, 3, 8, 8)
    bilinear = F.interpolate(x[:, 1], scale_factor=4, mode="bilinear", align_corners=False)
    assert torch.allclose(model(x), bilinear)


def test_edvr_errors():
    model = EDVR(**TINY_EDVR)
    with pytest.raises(ValueError, match="num_frame=5"):
        model(torch.rand(1, 3, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(b, t, c, h, w\)"):
        model(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="too small"):
        model(torch.rand(1, 5, 3, 2, 8))
    with pytest.raises(ValueError, match="with_predeblur"):
        EDVR(hr_in=True)
    with pytest.raises(ValueError, match="center_frame_idx"):
        EDVR(center_frame_idx=5)


# --- IconVSR ------------------------------------------------------------------------------------

TINY_ICON = dict(num_feat=16, num_block=1)


def test_iconvsr_forward_shape_with_spynet():
    torch.manual_seed(0)
    out = IconVSR(**TINY_ICON).eval()(torch.rand(1, 5, 3, 10, 13))  # padded to 12x16 inside
    assert out.shape == (1, 5, 3, 40, 52) and torch.isfinite(out).all()


def test_iconvsr_without_refill_and_coupling_is_basicvsr():
    torch.manual_seed(0)
    basic = BasicVSR(**TINY).eval()
    icon = IconVSR(**TINY, use_refill=False, coupled=False).eval()
    icon.load_state_dict(basic.state_dict())  # strict: the same keys and shapes
    lqs, flows = torch.rand(1, 4, 3, 9, 11), random_flows(1, 4, 9, 11)
    with torch.no_grad():
        assert torch.equal(icon(lqs, flows=flows), basic(lqs, flows=flows))
    assert IconVSR(**TINY, coupled=True, use_refill=False).forward_trunk.main[0].in_channels == 19


def test_iconvsr_keyframe_stride_can_change_at_inference():
    torch.manual_seed(0)
    model = IconVSR(**TINY_ICON).eval()
    calls = []
    model.edvr.register_forward_hook(lambda mod, args, out: calls.append(out.shape))
    lqs, flows = torch.rand(1, 6, 3, 8, 8), random_flows(1, 6, 8, 8)

    def run(**kw):
        calls.clear()
        with torch.no_grad():
            return model(lqs, flows=flows, **kw), len(calls)

    default, n_default = run()  # stride 5: keyframes 0 and 5
    denser, n_denser = run(keyframe_stride=2)  # 0, 2, 4, 5
    assert calls == [(1, 16, 8, 8)] * 4  # one refill feature map per keyframe
    model.keyframe_stride = 3  # 0, 3, 5
    _, n_attribute = run()
    none, n_none = run(keyframe_stride=0)
    assert (n_default, n_denser, n_attribute, n_none) == (2, 4, 3, 0)
    assert not torch.allclose(default, denser, atol=1e-5)
    assert not torch.allclose(default, none, atol=1e-5)
    assert keyframe_indices(12, 5) == [0, 5, 10, 11] and keyframe_indices(10, 3) == [0, 3, 6, 9]


def test_iconvsr_refill_window_uses_distinct_frames():
    torch.manual_seed(0)
    model = IconVSR(**TINY_ICON).eval()
    seen = []
    model.edvr.register_forward_pre_hook(lambda mod, args: seen.append(args[0]))
    lqs = torch.arange(5.0).view(1, 5, 1, 1, 1).expand(1, 5, 3, 4, 4) / 4  # frame i has value i/4
    with torch.no_grad():
        model(lqs, flows=random_flows(1, 5, 4, 4), keyframe_stride=4)  # keyframes 0 and 4
    frames = [(w[0, :, 0, 0, 0] * 4).round().int().tolist() for w in seen]
    assert frames == [[4, 3, 0, 1, 2], [2, 3, 4, 1, 0]]  # BasicSR's temporal padding


def test_iconvsr_loads_a_local_edvr_extractor(tmp_path):
    src = IconVSR(**TINY_ICON)
    torch.save(src.edvr.state_dict(), tmp_path / "edvr.pth")
    loaded = IconVSR(**TINY_ICON, edvr_path=str(tmp_path / "edvr.pth"))
    assert torch.equal(loaded.edvr.conv_first.weight, src.edvr.conv_first.weight)


def test_spynet_and_edvr_paths_read_params_before_params_ema_as_basicsr(tmp_path):
    torch.manual_seed(0)
    spynet, other = SpyNet().state_dict(), SpyNet().state_dict()
    torch.save({"params_ema": other, "params": spynet}, tmp_path / "spynet.pth")
    loaded = SpyNet(load_path=str(tmp_path / "spynet.pth"))
    key = "basic_module.0.basic_module.0.weight"
    assert torch.equal(loaded.state_dict()[key], spynet[key])
    assert not torch.equal(loaded.state_dict()[key], other[key])
    edvr, other = (IconVSR(**TINY_ICON).edvr.state_dict() for _ in range(2))
    torch.save({"params_ema": other, "params": edvr}, tmp_path / "edvr.pth")
    loaded = IconVSR(**TINY_ICON, edvr_path=str(tmp_path / "edvr.pth")).edvr
    assert torch.equal(loaded.conv_first.weight, edvr["conv_first.weight"])
    assert not torch.equal(loaded.conv_first.weight, other["conv_first.weight"])


def test_iconvsr_errors():
    model = IconVSR(**TINY_ICON)
    flows = random_flows(1, 3, 8, 8)
    with pytest.raises(ValueError, match="at least 2 \\* temporal_padding \\+ 1 = 5 frames"):
        model(torch.rand(1, 3, 3, 8, 8), flows=flows)
    with torch.no_grad():  # no keyframes: a short clip is fine
        assert model(torch.rand(1, 3, 3, 8, 8), flows=flows, keyframe_stride=0).shape[1] == 3
    with pytest.raises(ValueError, match="keyframe_stride"):
        model(torch.rand(1, 3, 3, 8, 8), flows=flows, keyframe_stride=-1)
    with pytest.raises(ValueError, match="at least 2 frames"):
        model(torch.rand(1, 1, 3, 8, 8))
    with pytest.raises(ValueError, match="flows_forward must have shape"):
        model(torch.rand(1, 5, 3, 8, 8), flows=random_flows(1, 5, 8, 9))
    with pytest.raises(ValueError, match="edvr_path"):
        IconVSR(**TINY_ICON, use_refill=False, edvr_path="x.pth")


def test_outputs_match_the_pinned_reference():
    # Tiny seeded models on fixed inputs, against outputs made by the code at commit e808b78 (see
    # tests/data/README.md): the refactors since (e.g. blocks.pixel_shuffle_x4, SpyNet run only
    # for the directions a model uses) must not change a number. The models and how they are run
    # come from the script that wrote the file, so the two cannot drift apart.
    data = Path(__file__).parent / "data"
    spec = importlib.util.spec_from_file_location("pinned", data / "make_video_arch_outputs.py")
    pinned = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pinned)
    ref = np.load(data / "video_arch_outputs.npz")
    flows = (torch.from_numpy(ref["flow_forward"]), torch.from_numpy(ref["flow_backward"]))
    for name, out in pinned.outputs(torch.from_numpy(ref["lqs"]), flows).items():
        # float32 kernels may differ in the last bits between CPUs: 1e-5 is far below any change
        torch.testing.assert_close(out, torch.from_numpy(ref[name]), atol=1e-5, rtol=0, msg=name)


@pytest.mark.parametrize("arch", [BasicVSR, IconVSR])
def test_num_feat_hr_sets_only_the_hr_reconstruction_width(arch):
    torch.manual_seed(0)
    default, narrow = arch(num_feat=8, num_block=1), arch(num_feat=8, num_block=1, num_feat_hr=4)
    changed = {
        k: (tuple(v.shape), tuple(narrow.state_dict()[k].shape))
        for k, v in default.state_dict().items()
        if v.shape != narrow.state_dict()[k].shape
    }
    assert set(default.state_dict()) == set(narrow.state_dict())  # BasicSR's keys either way
    assert changed == {
        "upconv2.weight": ((256, 8, 3, 3), (16, 8, 3, 3)),
        "upconv2.bias": ((256,), (16,)),
        "conv_hr.weight": ((64, 64, 3, 3), (4, 4, 3, 3)),
        "conv_hr.bias": ((64,), (4,)),
        "conv_last.weight": ((3, 64, 3, 3), (3, 4, 3, 3)),
    }
    lqs = torch.rand(1, 5, 3, 8, 8)
    flows = random_flows(1, 5, 8, 8)
    with torch.no_grad():
        assert narrow.eval()(lqs, flows=flows).shape == (1, 5, 3, 32, 32)
