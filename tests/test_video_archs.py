"""Video SR archs: SpyNet, BasicVSR (propagation/alignment variants, local propagation, oracle
flow), IconVSR (refill, coupled propagation, keyframes), EDVR and its deformable convolution.

Everything runs on CPU with tiny widths, except the manifest test, which builds the published
configurations (no forward pass) and compares them with BasicSR 1.4.2's state_dicts in
/work/shared/reference/basicsr_state_dicts.json."""

import pytest
import torch

from srlab.archs.basicvsr import BasicVSR, cut_links
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
