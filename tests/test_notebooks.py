"""Every notebook executes at its smoke profile (any cell error fails), and each committed .ipynb
holds exactly the cells of its source in notebooks/src/ (built by tools/nb.py)."""

import json
import sys
from pathlib import Path

import nbformat
import pytest

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
    papermill = pytest.importorskip("papermill")
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


def test_unknown_parameter_fails_the_run(tmp_path):
    papermill = pytest.importorskip("papermill")
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
