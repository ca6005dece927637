"""srlab.checks: bad input fails with a message naming the argument and the problem."""

import pytest
import torch

from srlab import checks


def test_valid_inputs_pass_through():
    x = torch.rand(2, 3, 4, 4)
    assert checks.check_image(x) is x
    assert checks.check_image(x[0]) is not None
    v = torch.rand(1, 3, 3, 4, 4)
    assert checks.check_video(v, min_frames=2) is v
    assert checks.check_scale(4) == 4


@pytest.mark.parametrize(
    "x, match",
    [
        (torch.rand(3, 4), r"\(c, h, w\)"),
        (torch.rand(1, 4, 5, 5), "3 channels"),
        (torch.randint(0, 255, (3, 4, 4), dtype=torch.uint8), "uint8"),
        (torch.full((3, 2, 2), 2.0), "0-255"),
        (torch.full((3, 2, 2), -0.5), r"\[0, 1\]"),
        (torch.full((3, 2, 2), float("nan")), "NaN"),
        (torch.zeros(0, 3, 2, 2), "empty"),
        ([1, 2, 3], "torch.Tensor"),
    ],
)
def test_check_image_errors_name_the_problem(x, match):
    with pytest.raises((ValueError, TypeError), match=match) as err:
        checks.check_image(x, "lq")
    assert "lq" in str(err.value)


def test_check_video_errors():
    with pytest.raises(ValueError, match="b, t, c, h, w"):
        checks.check_video(torch.rand(3, 4, 4))
    with pytest.raises(ValueError, match="at least 2 frames"):
        checks.check_video(torch.rand(1, 1, 3, 4, 4), min_frames=2)


def test_check_same_shape_and_scale():
    with pytest.raises(ValueError, match="same shape"):
        checks.check_same_shape(torch.rand(3, 2, 2), torch.rand(3, 2, 3), "sr", "hr")
    for bad in (5, 2.0, True, "4"):
        with pytest.raises(ValueError, match="scale"):
            checks.check_scale(bad)


def test_meta_tensors_pass_value_checks_but_not_shape_checks():
    x = torch.empty(1, 3, 8, 8, device="meta")
    assert checks.check_image(x) is x  # FLOP counting runs models on meta tensors
    with pytest.raises(ValueError, match="3 channels"):
        checks.check_image(torch.empty(1, 4, 8, 8, device="meta"))


def test_value_checks_do_not_break_a_compiled_graph():
    def f(x):
        return checks.check_image(x) * 2

    compiled = torch.compile(f, backend="eager", fullgraph=True)  # fails on a graph break
    x = torch.rand(1, 3, 4, 4)
    assert torch.equal(compiled(x), x * 2)
    with pytest.raises(ValueError, match="3 channels"):
        checks.check_image(torch.rand(1, 4, 4, 4))


def test_check_int_and_check_float_return_plain_numbers():
    import numpy as np

    assert checks.check_int(np.int64(3), "n", low=1) == 3
    assert type(checks.check_int(np.int64(3), "n")) is int
    assert checks.check_int(0, "n", low=0, high=0) == 0
    assert checks.check_float(np.float32(0.5), "lr", low=0, low_open=True) == 0.5
    assert checks.check_float(0, "eta_min", low=0) == 0.0
    assert checks.check_finite(torch.full((2,), 1e30), "x") is not None  # any finite range
