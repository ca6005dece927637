"""srlab.checkpoints: BasicSR checkpoints in, srlab checkpoints out, only weights unpickled."""

import pickle

import pytest
import torch

from srlab.archs import build
from srlab.archs.edsr import EDSR
from srlab.checkpoints import CheckpointMismatchError, load, load_model, save, state_dict_of


def small_edsr(**kwargs) -> torch.nn.Module:
    return build("edsr_baseline_x2", num_feat=8, num_block=2, **kwargs)


def randomised(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=g) for k, v in model.state_dict().items()}


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_load_model_round_trip_gives_identical_outputs(tmp_path):
    model = build("rcan_x3", num_feat=16, num_group=2, num_block=2, use_ssc=False).eval()
    path = save(tmp_path / "rcan.pth", model, extra={"iter": 7, "psnr": torch.tensor(30.5)})
    restored = load_model(path)
    x = torch.rand(1, 3, 6, 6)
    with torch.no_grad():
        assert torch.equal(restored(x), model(x))
    assert restored.srlab_config == model.srlab_config and not restored.training
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["srlab"]["arch"] == "rcan" and checkpoint["iter"] == 7
    assert checkpoint["srlab"]["kwargs"]["use_ssc"] is False
    assert not list(tmp_path.glob(".*.tmp"))  # written atomically: no temporary file left


def test_save_explicit_arch_for_a_model_not_built_by_name(tmp_path):
    model = EDSR(num_feat=8, num_block=1, upscale=2)
    with pytest.raises(ValueError, match="arch="):
        save(tmp_path / "a.pth", model)
    path = save(
        tmp_path / "a.pth", model, arch="edsr", kwargs=dict(num_feat=8, num_block=1, upscale=2)
    )
    assert same_weights(load_model(path), model)


@pytest.mark.parametrize(
    "kwargs, extra, match",
    [
        (dict(num_feat=object()), None, "kwargs.*plain values"),
        (dict(num_feat=torch.tensor(8)), None, "kwargs.*plain values"),
        (None, {"params": 1}, "reserved"),
        (None, {"sampler": object()}, "extra.*plain values"),
    ],
)
def test_save_refuses_what_load_model_could_not_read(tmp_path, kwargs, extra, match):
    with pytest.raises((TypeError, ValueError), match=match):
        save(tmp_path / "a.pth", small_edsr(), arch="edsr", kwargs=kwargs, extra=extra)
    assert not (tmp_path / "a.pth").exists()


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda sd, other: {"params": sd}, id="params"),
        pytest.param(lambda sd, other: {"params_ema": sd}, id="params_ema"),
        pytest.param(lambda sd, other: {"params": other, "params_ema": sd}, id="ema-preferred"),
        pytest.param(lambda sd, other: sd, id="bare"),
        pytest.param(lambda sd, other: {"module." + k: v for k, v in sd.items()}, id="module."),
        pytest.param(
            lambda sd, other: {"params": {"module." + k: v for k, v in sd.items()}},
            id="params-module.",
        ),
    ],
)
@pytest.mark.parametrize("from_file", [False, True])
def test_load_accepts_basicsr_layouts(tmp_path, wrap, from_file):
    model = small_edsr()
    state, other = randomised(model, 1), randomised(model, 2)
    checkpoint = wrap(state, other)
    if from_file:
        torch.save(checkpoint, tmp_path / "ckpt.pth")
        checkpoint = tmp_path / "ckpt.pth"
    assert load(model, checkpoint) is model
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())


def test_param_key_overrides_the_ema_preference():
    model = small_edsr()
    raw, ema = randomised(model, 1), randomised(model, 2)
    load(model, {"params": raw, "params_ema": ema}, param_key="params")
    assert torch.equal(model.state_dict()["conv_first.weight"], raw["conv_first.weight"])
    with pytest.raises(KeyError, match="no 'params_ema'.*params"):
        state_dict_of({"params": raw}, param_key="params_ema")


def test_prefer_ema_false_reads_params_first_as_basicsr():
    model = small_edsr()
    raw, ema = randomised(model, 1), randomised(model, 2)
    key = "conv_first.weight"
    assert torch.equal(state_dict_of({"params": raw, "params_ema": ema})[key], ema[key])
    assert torch.equal(state_dict_of({"params": raw, "params_ema": ema}, prefer_ema=False)[key],
                       raw[key])  # fmt: skip
    assert torch.equal(state_dict_of({"params_ema": ema}, prefer_ema=False)[key], ema[key])
    assert torch.equal(state_dict_of(raw, prefer_ema=False)[key], raw[key])  # a bare state_dict
    load(model, {"params": raw, "params_ema": ema}, prefer_ema=False)
    assert torch.equal(model.state_dict()[key], raw[key])


def test_mismatch_error_names_missing_unexpected_and_misshaped_keys():
    model = small_edsr()
    state = randomised(model, 0)
    del state["body.1.conv2.bias"]
    state["body.7.conv1.weight"] = torch.zeros(8, 8, 3, 3)
    state["conv_last.weight"] = torch.zeros(3, 16, 3, 3)
    with pytest.raises(CheckpointMismatchError) as err:
        load(model, {"params": state})
    message = str(err.value)
    assert "1 missing, 1 unexpected, 1 with a different shape" in message
    assert "body.1.conv2.bias" in message and "body.7.conv1.weight" in message
    assert "conv_last.weight checkpoint (3, 16, 3, 3) vs model (3, 8, 3, 3)" in message
    assert err.value.missing == ["body.1.conv2.bias"]
    assert isinstance(err.value, ValueError)


def test_mismatch_error_truncates_long_lists_but_counts_them():
    model = build("rcan_x2", num_feat=16, num_group=2, num_block=2)
    state = {"net." + k: v for k, v in model.state_dict().items()}  # a wrongly prefixed checkpoint
    n = len(state)  # 44 keys: the message shows 10 of each list and counts the rest
    with pytest.raises(
        CheckpointMismatchError, match=rf"missing \({n}\):.*\.\.\. and {n - 10} more"
    ):
        load(model, state)


def test_non_strict_load_skips_missing_and_unexpected_but_not_shapes():
    model = small_edsr()
    state = randomised(model, 0)
    del state["conv_last.bias"]
    state["extra.weight"] = torch.zeros(1)
    load(model, state, strict=False)
    assert torch.equal(model.state_dict()["conv_first.weight"], state["conv_first.weight"])
    state["conv_first.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatchError, match="different shape"):
        load(model, state, strict=False)


def test_not_a_state_dict_is_refused():
    with pytest.raises(ValueError, match="not a state_dict"):
        load(small_edsr(), {"model": "edsr", "weights": [1, 2]})


def test_load_model_needs_an_srlab_checkpoint(tmp_path):
    torch.save({"params": small_edsr().state_dict()}, tmp_path / "basicsr.pth")
    with pytest.raises(ValueError, match="not an srlab checkpoint.*srlab.checkpoints.load"):
        load_model(tmp_path / "basicsr.pth")


MARKER = "marker.txt"


def write_marker(path: str) -> None:
    """What a malicious pickle could do on load: run any function, here one that writes a file."""
    with open(path, "w") as f:
        f.write("code ran on load")


class Payload:
    """A custom object whose unpickling calls write_marker(path)."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (write_marker, (self.path,))


def test_checkpoint_with_an_arbitrary_object_is_refused_and_runs_nothing(tmp_path):
    model = small_edsr()
    marker = tmp_path / MARKER
    torch.save({"params": model.state_dict(), "hook": Payload(str(marker))}, tmp_path / "bad.pth")
    with pytest.raises(pickle.UnpicklingError, match="refusing to load.*weights_only=True"):
        load(model, tmp_path / "bad.pth")
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        load_model(tmp_path / "bad.pth")
    assert not marker.exists()
    # the payload is live: a plain unpickling would have run it
    pickle.loads(pickle.dumps(Payload(str(marker))))
    assert marker.read_text() == "code ran on load"


def test_load_shared_copies_what_fits_and_names_the_rest():
    from srlab.checkpoints import load_shared

    torch.manual_seed(0)
    full = build("rcan", num_feat=8, num_group=1, num_block=1, squeeze_factor=2, upscale=2)
    init = full.state_dict()
    no_ca = build("rcan", num_feat=8, num_group=1, num_block=1, squeeze_factor=2, upscale=2,
                  use_ca=False)  # fmt: skip
    assert load_shared(no_ca, init) == []  # CA's weights are simply left out
    assert all(torch.equal(v, init[k]) for k, v in no_ca.state_dict().items())
    wider = build("rcan", num_feat=8, num_group=1, num_block=1, squeeze_factor=2, upscale=3)
    own = {k: v.clone() for k, v in wider.state_dict().items()}
    kept = load_shared(wider, init)  # x3's upsampler has other shapes: they keep their own
    assert kept and all(k.startswith("upsample.") for k in kept)
    for k, v in wider.state_dict().items():
        assert torch.equal(v, own[k] if k in kept else init[k]), k


def test_checkpoints_does_not_import_the_registry():
    import subprocess
    import sys

    code = "import sys, srlab.checkpoints; print('srlab.archs' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_load_model_lives_beside_build_and_the_old_name_still_works(tmp_path):
    from srlab.archs import load_model as beside_build

    model = small_edsr()
    save(tmp_path / "m.pth", model)
    assert same_weights(beside_build(tmp_path / "m.pth"), model)
    assert same_weights(load_model(tmp_path / "m.pth"), model)
