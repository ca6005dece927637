"""srlab.archs.blocks: the pieces several architectures share."""

import pytest
import torch

from srlab.archs.blocks import (
    ResidualBlockNoBN,
    Upsample,
    default_init_weights,
    flow_warp,
    make_layer,
)


def test_residual_block_keys_and_identity_at_zero_weights():
    block = ResidualBlockNoBN(num_feat=8, res_scale=0.5)
    assert sorted(block.state_dict()) == [
        "conv1.bias",
        "conv1.weight",
        "conv2.bias",
        "conv2.weight",
    ]
    torch.nn.init.zeros_(block.conv2.weight)
    torch.nn.init.zeros_(block.conv2.bias)
    x = torch.randn(1, 8, 5, 5)
    assert torch.equal(block(x), x)


def test_make_layer_indexes_like_basicsr():
    layer = make_layer(ResidualBlockNoBN, 2, num_feat=4)
    assert "1.conv2.weight" in layer.state_dict()


@pytest.mark.parametrize(
    "scale, keys", [(2, {"0"}), (3, {"0"}), (4, {"0", "2"}), (8, {"0", "2", "4"})]
)
def test_upsample_shapes_and_keys(scale, keys):
    up = Upsample(scale, 4)
    assert {k.split(".")[0] for k in up.state_dict()} == keys
    assert up(torch.randn(1, 4, 3, 5)).shape == (1, 4, 3 * scale, 5 * scale)
    with pytest.raises(ValueError, match="scales"):
        Upsample(5, 4)


def test_flow_warp_integer_shift_is_exact():
    x = torch.arange(2 * 6 * 7, dtype=torch.float32).view(1, 2, 6, 7)
    flow = torch.zeros(1, 2, 6, 7)
    flow[:, 0] = 2.0  # every output pixel reads 2 px to its right
    flow[:, 1] = -1.0  # and 1 px up
    out = flow_warp(x, flow)
    assert torch.allclose(out[..., 1:, :5], x[..., :5, 2:], atol=1e-4)
    # reading outside the image gives zeros (up to the rounding of grid_sample's coordinates)
    assert out[..., 0, :].abs().max() < 1e-4 and out[..., :, 5:].abs().max() < 1e-4


def test_flow_warp_half_pixel_is_bilinear():
    x = torch.tensor([[0.0, 1.0, 2.0, 3.0]]).view(1, 1, 1, 4)
    flow = torch.zeros(1, 2, 1, 4)
    flow[:, 0] = 0.5
    assert torch.allclose(flow_warp(x, flow)[0, 0, 0, :3], torch.tensor([0.5, 1.5, 2.5]))


def test_flow_warp_shape_errors():
    with pytest.raises(ValueError, match=r"\(b, 2, h, w\)"):
        flow_warp(torch.rand(1, 3, 4, 4), torch.rand(1, 4, 4, 2))
    with pytest.raises(ValueError, match="agree"):
        flow_warp(torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 5))


def test_default_init_scales_weights_and_skips_meta_tensors():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 16, 3)
    default_init_weights(conv, scale=0.1, bias_fill=0.5)
    assert torch.all(conv.bias == 0.5)
    # kaiming normal std is sqrt(2 / fan_in) = sqrt(2 / 144); scaled by 0.1
    assert abs(conv.weight.std().item() - 0.1 * (2 / 144) ** 0.5) < 0.002
    meta = torch.nn.Conv2d(4, 4, 3, device="meta")
    default_init_weights(meta, scale=0.1)  # nothing to initialise: must not fail or compute
    assert meta.weight.is_meta
