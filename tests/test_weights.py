"""srlab/weights/: every shipped file is what its name and its card say it is."""

import ast
import re
from pathlib import Path

import pytest
import torch

from srlab import checkpoints, flow
from srlab.archs.spynet import SpyNet
from srlab.data import bundled_videos

WEIGHTS = Path(flow.__file__).resolve().parent / "weights"
ROOT = WEIGHTS.parents[1]
CARD = (WEIGHTS / "README.md").read_text()
ROWS = {  # file -> (epe, epe_zero), from the card's tables
    m["file"]: (float(m["epe"]), float(m["zero"]))
    for m in re.finditer(r"^\| `(?P<file>[^`]+\.pth)` \| (?P<epe>[\d.]+) \| (?P<zero>[\d.]+) \|$",
                         CARD, re.MULTILINE)
}  # fmt: skip


def quick_spynet_settings(notebook: str) -> dict:
    """spynet_iters and spynet_clips of a notebook's quick profile, read from its source."""
    tree = ast.parse((ROOT / "notebooks" / "src" / f"{notebook}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PROFILES":
            quick = node.value.values[[ast.literal_eval(k) for k in node.value.keys].index("quick")]
            found = {kw.arg: ast.literal_eval(kw.value) for kw in quick.keywords
                     if kw.arg in ("spynet_iters", "spynet_clips")}  # fmt: skip
            return {"iters": found["spynet_iters"], "num_clips": found["spynet_clips"]}
    raise AssertionError(f"{notebook} has no PROFILES")


@pytest.mark.parametrize("notebook", ["basicvsr_ablation", "iconvsr_keyframes", "realtime_video"])
def test_the_notebooks_spynet_is_shipped_and_never_retrained(notebook, tmp_path, monkeypatch):
    """What the video notebooks call at their quick profile, with papermill's int for max_speed,
    finds a shipped file: a fresh clone does not pretrain."""
    monkeypatch.setattr(flow, "train_spynet", lambda **kw: pytest.fail("must not retrain"))
    settings = quick_spynet_settings(notebook)
    shipped = [checkpoints.load(SpyNet(), WEIGHTS / name).state_dict() for name in ROWS]
    for max_speed in (3.0, 3):
        net = flow.pretrained_spynet(**settings, seed=0, degradation="BD", max_speed=max_speed,
                                     cache_dir=tmp_path, progress=False)  # fmt: skip
        state = net.state_dict()
        assert any(all(torch.equal(state[k], s[k]) for k in state) for s in shipped)


def test_every_shipped_file_has_a_card_row_and_back():
    assert ROWS, "the card lists no file"
    assert set(ROWS) == {p.name for p in WEIGHTS.glob("spynet_*.pth")}  # the others: pretrained()


@pytest.mark.parametrize("name", sorted(ROWS))
def test_shipped_spynet_is_found_by_its_settings_and_scores_what_the_card_says(name, tmp_path):
    state = torch.load(WEIGHTS / name, weights_only=True)
    settings = {k: v for k, v in state["pretrain"].items() if k not in ("loss", "wall_time_s")}
    settings = {**flow.LEGACY_SETTINGS, **settings}  # a run from before a setting: its old value
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


def test_the_defaults_at_bd_are_a_shipped_run(tmp_path, monkeypatch):
    """flow's docstring: pretrained_spynet(degradation="BD") reads the shipped run."""
    monkeypatch.setattr(flow, "train_spynet", lambda **kw: pytest.fail("must not retrain"))
    flow.pretrained_spynet(degradation="BD", cache_dir=tmp_path, progress=False)
