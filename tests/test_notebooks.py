"""Every notebook executes at its smoke profile (any cell error fails), and each committed .ipynb
holds exactly the cells of its source in notebooks/src/ (built by tools/nb.py)."""

import json
import sys
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest

from srlab.io import imwrite, to_tensor

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))
import nb as nbtool  # noqa: E402


def test_every_notebook_has_a_source():
    sources = {p.stem for p in (ROOT / "notebooks" / "src").glob("*.py")}
    assert {p.stem for p in NOTEBOOKS} == sources


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_matches_its_source(path):
    committed = [
        c
        for c in nbformat.read(path, 4).cells
        if "injected-parameters" not in c.metadata.get("tags", [])
    ]
    built = nbtool.parse((ROOT / "notebooks" / "src" / f"{path.stem}.py").read_text())
    assert [(c.cell_type, c.source) for c in committed] == [(c.cell_type, c.source) for c in built]
    params = [c for c in committed if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one papermill parameters cell"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_at_smoke_profile(path, tmp_path):
    out = tmp_path / path.name
    papermill.execute_notebook(
        str(path),
        str(out),
        parameters={"profile": "smoke", "out_dir": str(tmp_path), "results_dir": str(tmp_path)},
        kernel_name="python3",
        cwd=str(path.parent),
        progress_bar=False,
    )
    assert any(tmp_path.glob("*.png")), "the notebook saved no figure"
    results = list(tmp_path.glob("*.json"))
    assert results, "the notebook saved no results file"
    for path in results:
        assert "provenance" in json.loads(path.read_text()), f"{path.name} has no provenance"


def fake_reds(root):
    """A tiny REDS folder in BasicSR's layout: test clip 000 (of REDS4) and training clips 001,
    002, 8 frames of 64x64 HR each, and their x4 bicubic LR clips (made with imresize)."""
    from srlab.degradations import imresize

    rng = np.random.default_rng(0)
    for clip in ("000", "001", "002"):
        for k in range(8):
            hr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            imwrite(root / "train_sharp" / clip / f"{k:08d}.png", hr)
            lq = imresize(to_tensor(hr), 1 / 4).clamp(0, 1)  # (3, 16, 16)
            imwrite(root / "train_sharp_bicubic" / "X4" / clip / f"{k:08d}.png", lq)


def run_smoke(name, tmp_path, **parameters):
    return papermill.execute_notebook(
        str(ROOT / "notebooks" / f"{name}.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={
            "profile": "smoke",
            "out_dir": str(tmp_path),
            "results_dir": str(tmp_path),
            **parameters,
        },
        kernel_name="python3",
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["basicvsr_ablation", "iconvsr_keyframes"])
def test_video_notebooks_run_on_a_reds_folder(tmp_path, name):
    fake_reds(tmp_path / "reds")
    run_smoke(name, tmp_path, data_root=str(tmp_path / "reds"))
    results = json.loads((tmp_path / f"{name}_smoke.json").read_text())
    assert results["protocol"]["data"] == str(tmp_path / "reds")
    assert results["protocol"]["test_clips"] == ["000"]  # REDS4 only; 001, 002 train
    assert results["protocol"]["frames_per_clip"] == 6  # the smoke profile's test frames
    if name == "basicvsr_ablation":  # real clips have no true flow: no oracle rows
        assert all(row["flow"] != "oracle" for row in results["variants"])
        assert results["flow_gap_spynet_minus_oracle"] == {}
    else:  # and no end-point error of SpyNet
        assert results["spynet"] is None


@pytest.mark.parametrize("name", ["basicvsr_ablation", "iconvsr_keyframes"])
def test_video_notebooks_reject_oracle_flow_on_real_clips(tmp_path, name):
    with pytest.raises(papermill.PapermillExecutionError, match="flow='oracle' needs the true"):
        run_smoke(name, tmp_path, data_root=str(tmp_path), flow="oracle")


def test_unknown_parameter_fails_the_run(tmp_path):
    path = ROOT / "notebooks" / "quickstart.ipynb"
    with pytest.raises(papermill.PapermillExecutionError, match="not_a_parameter"):
        papermill.execute_notebook(
            str(path),
            str(tmp_path / "out.ipynb"),
            parameters={
                "profile": "smoke",
                "out_dir": str(tmp_path),
                "results_dir": str(tmp_path),
                "not_a_parameter": 1,
            },
            kernel_name="python3",
            cwd=str(path.parent),
            progress_bar=False,
        )
