"""srlab/weights/: every shipped file is what its name and its card say it is."""

import re
from pathlib import Path

import pytest
import torch

from srlab import checkpoints, flow
from srlab.archs.spynet import SpyNet
from srlab.data import bundled_videos

WEIGHTS = Path(flow.__file__).resolve().parent / "weights"
CARD = (WEIGHTS / "README.md").read_text()
ROWS = {  # file -> (epe, epe_zero), from the card's tables
    m["file"]: (float(m["epe"]), float(m["zero"]))
    for m in re.finditer(r"^\| `(?P<file>[^`]+\.pth)` \| (?P<epe>[\d.]+) \| (?P<zero>[\d.]+) \|$",
                         CARD, re.MULTILINE)
}  # fmt: skip


def test_the_notebooks_spynet_is_shipped_and_never_retrained(tmp_path, monkeypatch):
    """What basicvsr_ablation and iconvsr_keyframes call at their quick profile, with papermill's
    int for max_speed, finds the shipped file: a fresh clone does not pretrain."""
    monkeypatch.setattr(flow, "train_spynet", lambda **kw: pytest.fail("must not retrain"))
    for max_speed in (3.0, 3):
        net = flow.pretrained_spynet(iters=3000, seed=0, degradation="BD", max_speed=max_speed,
                                     cache_dir=tmp_path, progress=False)  # fmt: skip
        shipped = checkpoints.load(SpyNet(), WEIGHTS / next(iter(ROWS)))
        for a, b in zip(net.state_dict().values(), shipped.state_dict().values(), strict=True):
            assert torch.equal(a, b)


def test_every_shipped_file_has_a_card_row_and_back():
    assert ROWS, "the card lists no file"
    assert set(ROWS) == {p.name for p in WEIGHTS.glob("spynet_*.pth")}  # the others: pretrained()


@pytest.mark.parametrize("name", sorted(ROWS))
def test_shipped_spynet_is_found_by_its_settings_and_scores_what_the_card_says(name, tmp_path):
    state = torch.load(WEIGHTS / name, weights_only=True)
    settings = {k: v for k, v in state["pretrain"].items() if k not in ("loss", "wall_time_s")}
    assert flow.cache_path(**settings).name == name, "the name must be the run's cache name"
    net = checkpoints.load(SpyNet(), WEIGHTS / name).eval()  # strict
    shipped = flow.pretrained_spynet(**settings, cache_dir=tmp_path, progress=False)
    for a, b in zip(net.state_dict().values(), shipped.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    clips = bundled_videos("test", num_frames=16)
    report = flow.evaluate_flow(net, clips, scale=settings["scale"],
                                degradation=settings["degradation"])  # fmt: skip
    epe, zero = ROWS[name]
    assert report["epe"] == pytest.approx(epe, abs=2e-3)
    assert report["epe_zero"] == pytest.approx(zero, abs=2e-3)
