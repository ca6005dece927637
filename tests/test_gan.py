"""Tests for srlab.gan: the loop is deterministic and its resume bitwise, a diverged run keeps the
last good checkpoint, the discriminator must fit the patches, and the recipes are BasicSR's."""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn

from srlab import checkpoints, data
from srlab.archs import build
from srlab.gan import RECIPES, DivergedError, GANConfig, interpolate_networks, recipe, train_gan

SCALE, LR_PATCH = 4, 8  # GT patches 32x32, the smallest discriminator


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny convolutions gain nothing from threads, and lose a lot on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_run(out_dir=None, **overrides):
    """A seeded tiny generator and discriminator, the bundled images' patches, and a config."""
    torch.manual_seed(0)
    generator = build("rrdbnet", scale=SCALE, num_feat=4, num_block=1, num_grow_ch=4)
    discriminator = build("vgg_discriminator", num_feat=4, input_size=SCALE * LR_PATCH)
    train_set = data.ImagePatches(data.bundled_images("train"), scale=SCALE, patch_size=LR_PATCH)
    settings = dict(
        iters=4,
        batch_size=2,
        lr=1e-3,
        perceptual_layers={"conv2_2": 1.0},  # shallow: fast; conv5_4 is tested in test_losses
        ckpt_every=2,
        progress=False,
        out_dir=out_dir,
    )
    return generator, discriminator, train_set, GANConfig(**{**settings, **overrides})


def states(*modules: nn.Module) -> list[dict[str, torch.Tensor]]:
    return [{k: v.clone() for k, v in m.state_dict().items()} for m in modules]


def assert_same_states(a, b):
    for sa, sb in zip(a, b, strict=True):
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), k


@pytest.mark.slow
@pytest.mark.parametrize("relativistic", [True, False])
def test_resume_is_bitwise(tmp_path, relativistic):
    g, d, ds, cfg = tiny_run(tmp_path / "whole", relativistic=relativistic)
    whole = train_gan(g, d, ds, cfg)
    expected = states(g, d, whole["ema"])

    g, d, ds, cfg = tiny_run(tmp_path / "split", relativistic=relativistic)
    train_gan(g, d, ds, cfg, stop_after=2)
    g, d, ds, cfg = tiny_run(tmp_path / "split", relativistic=relativistic)  # a fresh process
    resumed = train_gan(g, d, ds, cfg, resume=True)
    assert_same_states(expected, states(g, d, resumed["ema"]))
    for key in ("l_g_pix", "l_g_percep", "l_g_gan", "l_d", "d_real", "d_fake", "lr"):
        assert resumed[key] == whole[key], key
    assert len(whole["l_d"]) == 4 and all(v is not None for v in whole["l_g_gan"])
    assert "random-weight VGG19" in whole["vgg"]

    # The checkpoint holds the generator under BasicSR's keys: srlab.checkpoints reads it.
    g2 = build("rrdbnet", scale=SCALE, num_feat=4, num_block=1, num_grow_ch=4)
    checkpoints.load(g2, tmp_path / "whole" / "latest.pth")  # params_ema first
    assert_same_states(states(g2), states(whole["ema"]))


def test_same_config_same_numbers():
    runs = []
    for _ in range(2):
        g, d, ds, cfg = tiny_run(iters=2, gan_type="hinge", ema_decay=None)
        history = train_gan(g, d, ds, cfg)
        runs.append((history["l_d"], history["l_g_gan"], states(g, d)))
    assert runs[0][:2] == runs[1][:2]
    assert_same_states(runs[0][2], runs[1][2])


def test_discriminator_steps_alone_before_net_d_init_iters():
    g, d, ds, cfg = tiny_run(iters=3, net_d_init_iters=2, ema_decay=None, perceptual_weight=0)
    before = states(g)
    history = train_gan(g, d, ds, cfg)
    assert history["l_g_gan"][:2] == [None, None] and history["l_g_gan"][2] is not None
    assert history["vgg"] is None  # perceptual_weight 0: no VGG at all
    after = states(g)[0]
    assert any(not torch.equal(v, after[k]) for k, v in before[0].items())


def test_discriminator_must_fit_the_patches():
    g, _, ds, cfg = tiny_run()
    d = build("vgg_discriminator", num_feat=4, input_size=64)
    with pytest.raises(ValueError, match=r"takes 64x64 images \(input_size=64\).* 32x32"):
        train_gan(g, d, ds, cfg)


class Diverging(nn.Module):
    """A generator whose output turns NaN once `broken` is set."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net, self.broken = net, False

    def forward(self, x):
        out = self.net(x)
        return out * float("nan") if self.broken else out


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    g, d, ds, cfg = tiny_run(tmp_path, ckpt_every=1, ema_decay=None)
    g = Diverging(g)
    train_gan(g, d, ds, cfg, stop_after=2)
    good = hashlib.sha256((tmp_path / "latest.pth").read_bytes()).hexdigest()
    g.broken = True
    with pytest.raises(DivergedError, match="generator's output is NaN or Inf at iteration 3"):
        train_gan(g, d, ds, cfg, resume=True)
    assert hashlib.sha256((tmp_path / "latest.pth").read_bytes()).hexdigest() == good


def test_nan_loss_is_a_divergence(monkeypatch):
    import srlab.gan

    g, d, ds, cfg = tiny_run(ema_decay=None)
    monkeypatch.setattr(srlab.gan, "pixel_loss", lambda *a, **k: torch.tensor(float("nan")))
    with pytest.raises(DivergedError, match=r"generator's loss .* at iteration 1 \(l_g_pix = nan"):
        train_gan(g, d, ds, cfg)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(gan_type="ragan"), "gan_type must be one of"),
        (dict(pixel_loss="l3"), "pixel_loss must be one of"),
        (dict(gan_weight=float("nan")), "gan_weight"),
        (dict(lr_d=0.0), "lr_d"),
        (dict(net_d_init_iters=10, iters=10), "no generator step"),
        (dict(milestones=(5, 2), iters=10), "milestones"),
    ],
)
def test_bad_config_is_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GANConfig(**kwargs)


def test_resume_with_another_config_is_refused(tmp_path):
    g, d, ds, cfg = tiny_run(tmp_path, iters=2, ema_decay=None)
    train_gan(g, d, ds, cfg, stop_after=1)
    g, d, ds, cfg = tiny_run(tmp_path, iters=2, ema_decay=None, gan_weight=1.0)
    with pytest.raises(ValueError, match="gan_weight: saved 0.005, now 1.0"):
        train_gan(g, d, ds, cfg, resume=True)


def test_resume_from_a_damaged_or_foreign_file_names_it(tmp_path):
    g, d, ds, cfg = tiny_run(tmp_path, iters=2, ema_decay=None)
    latest = tmp_path / "latest.pth"
    latest.write_bytes(b"")  # a write that never finished
    with pytest.raises(ValueError, match=r"latest\.pth is empty"):
        train_gan(g, d, ds, cfg, resume=True)
    checkpoints.save(latest, g, arch="rrdbnet", kwargs={})  # a model file, not a training state
    with pytest.raises(
        ValueError, match=r"not a training checkpoint of srlab\.gan \(no iter, config"
    ):
        train_gan(g, d, ds, cfg, resume=True)


def test_recipes_are_basicsrs():
    esrgan, msrgan = recipe("esrgan_x4"), recipe("msrgan_x4", iters=10, milestones=())
    assert esrgan.relativistic and not msrgan.relativistic
    assert (esrgan.pixel_weight, esrgan.perceptual_weight, esrgan.gan_weight) == (1e-2, 1.0, 5e-3)
    assert esrgan.perceptual_layers == {"conv5_4": 1.0} and esrgan.gan_type == "vanilla"
    assert (esrgan.lr, esrgan.betas, esrgan.ema_decay) == (1e-4, (0.9, 0.99), 0.999)
    assert esrgan.milestones == (50_000, 100_000, 200_000, 300_000) and esrgan.iters == 400_000
    assert msrgan.iters == 10
    assert RECIPES["esrgan_x4"]["generator"] == "esrgan_x4"
    assert RECIPES["msrgan_x4"]["generator"] == "msrresnet_x4"
    for entry in RECIPES.values():  # the presets exist and the discriminator fits the GT patch
        assert build(entry["discriminator"], num_feat=4).input_size == entry["gt_size"]
    with pytest.raises(ValueError, match="unknown GAN recipe"):
        recipe("srgan_x8")


@pytest.mark.parametrize("size", [32, 64])
def test_small_discriminators(size):
    d = build("vgg_discriminator", num_feat=4, input_size=size)
    assert d(torch.rand(2, 3, size, size)).shape == (2, 1)


def test_network_interpolation():
    torch.manual_seed(0)
    a = build("vgg_discriminator", num_feat=4, input_size=32)  # has BN: float and int buffers
    b = build("vgg_discriminator", num_feat=4, input_size=32)
    b.bn0_1.num_batches_tracked += 7
    half = interpolate_networks(a, b, 0.5).state_dict()
    for k, v in a.state_dict().items():
        if v.is_floating_point():
            torch.testing.assert_close(half[k], (v + b.state_dict()[k]) / 2)
        else:
            assert torch.equal(half[k], v)
    assert_same_states(states(interpolate_networks(a, b, 0)), states(a))
    ends = states(interpolate_networks(a, b, 1))[0]
    assert all(torch.equal(ends[k], v) for k, v in b.state_dict().items() if v.is_floating_point())
    with pytest.raises(ValueError, match="alpha"):
        interpolate_networks(a, b, 1.5)
    with pytest.raises(ValueError, match="same state_dict"):
        interpolate_networks(a, build("vgg_discriminator", num_feat=8, input_size=32), 0.5)


@pytest.mark.slow
def test_mixed_precision_gan_training_and_an_exact_fp16_resume(tmp_path):
    g, d, ds, cfg = tiny_run()
    plain = train_gan(g, d, ds, cfg)
    g, d, ds, cfg = tiny_run(precision="bf16")
    bf16 = train_gan(g, d, ds, cfg)
    assert all(v.dtype == torch.float32 for v in g.state_dict().values())
    assert bf16["l_d"] != plain["l_d"]  # autocast ran: the numbers moved, by rounding only
    assert bf16["l_d"] == pytest.approx(plain["l_d"], rel=0.05)

    g, d, ds, cfg = tiny_run(tmp_path / "whole", precision="fp16")
    whole = train_gan(g, d, ds, cfg)
    expected = states(g, d, whole["ema"])
    g, d, ds, cfg = tiny_run(tmp_path / "split", precision="fp16")
    train_gan(g, d, ds, cfg, stop_after=2)
    assert "scaler" in torch.load(tmp_path / "split" / "latest.pth", weights_only=True)
    g, d, ds, cfg = tiny_run(tmp_path / "split", precision="fp16")
    resumed = train_gan(g, d, ds, cfg, resume=True)
    assert_same_states(expected, states(g, d, resumed["ema"]))
    assert resumed["l_d"] == whole["l_d"]


def test_gan_precision_is_checked_by_name():
    with pytest.raises(ValueError, match="precision must be one of"):
        GANConfig(precision="half")
