"""Tests for srlab.losses and srlab.archs.vgg: torchvision's VGG19 keys, loading a user's weights
file and refusing other architectures, the fixed random-weight VGG, before/after activation, and
the GAN losses against their formulas."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn.functional as F

from srlab.archs.vgg import LAYER_NAMES, VGG19Features
from srlab.losses import (
    GAN_TYPES,
    PerceptualLoss,
    gan_loss,
    relativistic_discriminator_loss,
    relativistic_generator_loss,
)

# torchvision's vgg19().features: the index and (out, in) channels of each of its 16 convs.
TORCHVISION_VGG19_CONVS = [
    (0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256),
    (14, 256, 256), (16, 256, 256), (19, 512, 256), (21, 512, 512), (23, 512, 512),
    (25, 512, 512), (28, 512, 512), (30, 512, 512), (32, 512, 512), (34, 512, 512),
]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small convolutions gain nothing from threads, and lose a lot on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torchvision_state(convs=TORCHVISION_VGG19_CONVS, seed: int = 1) -> dict[str, torch.Tensor]:
    """A state_dict in the layout of torchvision's vgg19-dcbb9e9d.pth (random values; the
    classifier shrunk, since VGG19Features ignores it)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for index, c_out, c_in in convs:
        state[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=g) * 0.05
        state[f"features.{index}.bias"] = torch.randn(c_out, generator=g) * 0.01
    state["classifier.0.weight"] = torch.zeros(8, 4)
    state["classifier.0.bias"] = torch.zeros(8)
    return state


def test_keys_and_shapes_are_torchvisions():
    vgg = VGG19Features(("relu5_4",))
    expected = {}
    for index, c_out, c_in in TORCHVISION_VGG19_CONVS:
        expected[f"features.{index}.weight"] = (c_out, c_in, 3, 3)
        expected[f"features.{index}.bias"] = (c_out,)
    assert {k: tuple(v.shape) for k, v in vgg.state_dict().items()} == expected
    assert len(LAYER_NAMES) == 37 and LAYER_NAMES[34] == "conv5_4" and LAYER_NAMES[36] == "pool5"


def test_network_is_cut_after_the_deepest_layer():
    assert len(VGG19Features(("conv1_2",)).features) == 3  # conv1_1, relu1_1, conv1_2
    assert len(VGG19Features(("conv2_1", "relu1_1")).features) == 6


def test_user_weights_load(tmp_path):
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    state = torchvision_state()
    torch.save(state, path)
    vgg = VGG19Features(("conv2_1",), weights=path)
    assert len(vgg.state_dict()) == 6
    for k, v in vgg.state_dict().items():
        assert torch.equal(v, state[k])
    assert vgg.pretrained and "vgg19-dcbb9e9d.pth" in vgg.source and "random" not in vgg.source
    x = torch.rand(1, 3, 32, 32)
    assert not torch.equal(vgg(x)["conv2_1"], VGG19Features(("conv2_1",))(x)["conv2_1"])
    loss = PerceptualLoss({"conv2_1": 1.0}, vgg_weights=path)
    assert loss.pretrained and loss.source == vgg.source


def test_wrong_architecture_is_refused(tmp_path):
    vgg16 = [(0, 64, 3), (2, 64, 64), (5, 128, 64), (7, 128, 128), (10, 256, 128), (12, 256, 256),
             (14, 256, 256), (17, 512, 256), (19, 512, 512), (21, 512, 512), (24, 512, 512),
             (26, 512, 512), (28, 512, 512)]  # fmt: skip
    cases = {
        "vgg16.pth": torchvision_state(vgg16),
        "sr.pth": {"params": {"conv_first.weight": torch.zeros(64, 3, 3, 3)}},
        "narrow.pth": {
            k: v[: v.shape[0] // 2] if k == "features.34.weight" else v
            for k, v in torchvision_state().items()
        },
    }
    for name, state in cases.items():
        torch.save(state, tmp_path / name)
        with pytest.raises(ValueError, match=f"{name} is not torchvision's VGG19"):
            VGG19Features(("conv1_1",), weights=tmp_path / name)
    with pytest.raises(FileNotFoundError, match="no file"):
        VGG19Features(("conv1_1",), weights=tmp_path / "missing.pth")
    (tmp_path / "evil.pth").write_bytes(pickle.dumps(torch.nn.Identity()))
    with pytest.raises(pickle.UnpicklingError, match="weights_only"):
        VGG19Features(("conv1_1",), weights=tmp_path / "evil.pth")


def test_random_vgg_is_fixed_says_so_and_leaves_the_global_rng_alone():
    before = torch.get_rng_state()
    a, b = VGG19Features(("conv3_1",)), VGG19Features(("conv3_1",))
    assert torch.equal(torch.get_rng_state(), before)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    assert not a.pretrained and "random-weight VGG19" in a.source
    assert "random-weight" in repr(a) and "random-weight" in PerceptualLoss({"conv1_1": 1}).source
    assert not any(p.requires_grad for p in a.parameters())


def test_before_and_after_activation():
    vgg = VGG19Features(("conv2_2", "relu2_2"))
    out = vgg(torch.rand(2, 3, 32, 32))
    assert out["conv2_2"].shape == (2, 128, 16, 16)
    assert (out["conv2_2"] < 0).any()  # before the ReLU: negative responses are kept
    assert torch.equal(out["relu2_2"], F.relu(out["conv2_2"]))


def test_perceptual_loss():
    loss = PerceptualLoss({"conv2_2": 0.5, "conv3_4": 2.0})
    gt = torch.rand(2, 3, 32, 32)
    assert float(loss(gt, gt)) == 0.0
    x = gt.clone().requires_grad_(True)
    value = loss(x + 0.1 * torch.randn_like(gt), gt)
    assert value > 0
    value.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())  # the VGG stays fixed
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        PerceptualLoss({"conv6_1": 1.0})
    with pytest.raises(ValueError, match="criterion"):
        PerceptualLoss(criterion="l3")
    with pytest.raises(ValueError, match="same shape"):
        loss(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 16, 16))


def test_perceptual_loss_is_the_weighted_sum_of_feature_distances():
    loss = PerceptualLoss({"conv1_2": 0.5, "relu2_1": 2.0}, criterion="mse")
    x, gt = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    fx, fg = loss.vgg(x), loss.vgg(gt)
    expected = 0.5 * F.mse_loss(fx["conv1_2"], fg["conv1_2"]) + 2.0 * F.mse_loss(
        fx["relu2_1"], fg["relu2_1"]
    )
    torch.testing.assert_close(loss(x, gt), expected)


def test_gan_losses_match_their_formulas():
    p = torch.tensor([[-2.0], [0.5], [3.0]])
    ones, zeros = torch.ones_like(p), torch.zeros_like(p)
    expected = {  # (gan_type, target_is_real, is_disc) -> value
        ("vanilla", True, False): F.binary_cross_entropy_with_logits(p, ones),
        ("vanilla", False, True): F.binary_cross_entropy_with_logits(p, zeros),
        ("lsgan", True, True): ((p - 1) ** 2).mean(),
        ("lsgan", False, True): (p**2).mean(),
        ("wgan", True, True): -p.mean(),
        ("wgan", False, True): p.mean(),
        ("wgan_softplus", True, False): F.softplus(-p).mean(),
        ("wgan_softplus", False, True): F.softplus(p).mean(),
        ("hinge", True, True): F.relu(1 - p).mean(),
        ("hinge", False, True): F.relu(1 + p).mean(),
        ("hinge", True, False): -p.mean(),
    }
    for (kind, real, is_disc), value in expected.items():
        torch.testing.assert_close(gan_loss(p, real, kind, is_disc=is_disc), value)
    assert set(GAN_TYPES) == {k for k, _, _ in expected}


def test_unknown_gan_type_is_refused():
    with pytest.raises(ValueError, match="gan_type must be one of .*'hinge'.*got 'ragan'"):
        gan_loss(torch.zeros(2, 1), True, "ragan", is_disc=True)


def test_relativistic_losses():
    real = torch.tensor([[1.0], [2.0]], requires_grad=True)
    fake = torch.tensor([[-1.0], [0.5]], requires_grad=True)
    bce = F.binary_cross_entropy_with_logits
    d = relativistic_discriminator_loss(real, fake, "vanilla")
    expected_d = (
        bce(real - fake.mean(), torch.ones(2, 1)) + bce(fake - real.mean(), torch.zeros(2, 1))
    ) / 2
    torch.testing.assert_close(d, expected_d)
    g = relativistic_generator_loss(real, fake, "vanilla")
    expected_g = (
        bce(real - fake.mean(), torch.zeros(2, 1)) + bce(fake - real.mean(), torch.ones(2, 1))
    ) / 2
    torch.testing.assert_close(g, expected_g)
    g.backward()
    assert real.grad is None  # the generator's loss reads the real logits as constants
    assert fake.grad.abs().sum() > 0
