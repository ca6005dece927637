"""nbval on the committed quickstart: re-executed, its machine-independent outputs (the data's
shapes, the GT-flow warp PSNR, the bicubic floor table, the shipped model's PSNR: the cells tagged
`nbval-check-output`) must reproduce what is committed. The papermill smoke runs only check that
the cells run; this checks that the numbers a reader sees in the committed notebook are still what
the code gives.

The notebook runs at its committed (quick) profile, on a copy whose injected parameters cell sends
figures and results to a temporary folder and skips the model zoo's FLOPs and latency (minutes,
and timings are not reproducible). Paths in outputs are sanitised."""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
# nbval's sanitiser format: each section is a regex and its replacement, applied to every output.
SANITIZE = r"""
[paths]
regex: PosixPath\('[^']*/([^/']+)'\)
replace: PosixPath('\1')

[timings]
regex: \b\d+(\.\d+)? ?(s|ms)\b
replace: TIME
"""


def quickstart_copy(folder: Path) -> Path:
    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", 4)
    assert any("nbval-check-output" in c.metadata.get("tags", []) for c in nb.cells)
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    injected = nbformat.v4.new_code_cell(
        "# Parameters\n"
        f"out_dir = {str(folder)!r}\nresults_dir = {str(folder)!r}\n"
        "zoo_flops = False\nzoo_latency = False\n",
        metadata={"tags": ["injected-parameters"]},
    )  # as papermill injects it
    nb.cells.insert(params + 1, injected)
    path = folder / "quickstart.ipynb"
    nbformat.write(nb, path)
    return path


def nbval(path: Path) -> subprocess.CompletedProcess:
    """pytest --nbval-lax on one notebook, with SANITIZE, in the notebook's folder."""
    (path.parent / "sanitize.cfg").write_text(SANITIZE)
    (path.parent / "pytest.ini").write_text("[pytest]\n")  # not the project's settings
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-sanitize-with", "sanitize.cfg", "--nbval-kernel-name", "python3", path.name],
        cwd=path.parent, env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True,
    )  # fmt: skip


@pytest.mark.slow
def test_nbval_checks_tagged_cells_and_sanitises_paths(tmp_path):
    """The setup can fail: a tagged cell whose output changed fails; untagged cells and paths
    that differ only in their folder do not."""
    cells = [
        ("print(1 + 1)", "2\n", ["nbval-check-output"]),
        ("from pathlib import Path\nPath('/elsewhere/a.png')", None, ["nbval-check-output"]),
        ("print('anything')", "not what it prints\n", []),
    ]
    nb = nbformat.v4.new_notebook()
    for i, (source, text, tags) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": tags}, execution_count=i + 1)
        if text is None:
            data = {"text/plain": "PosixPath('/committed/folder/a.png')"}
            cell.outputs = [nbformat.v4.new_output("execute_result", data, execution_count=i + 1)]
        else:
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        nb.cells.append(cell)
    nb.metadata["kernelspec"] = dict(name="python3", display_name="Python 3", language="python")
    nbformat.write(nb, tmp_path / "demo.ipynb")
    done = nbval(tmp_path / "demo.ipynb")
    assert done.returncode == 0, done.stdout[-3000:]
    nb.cells[0].outputs[0]["text"] = "3\n"
    nbformat.write(nb, tmp_path / "demo.ipynb")
    assert nbval(tmp_path / "demo.ipynb").returncode != 0


@pytest.mark.slow
def test_quickstart_reproduces_its_committed_numbers(tmp_path):
    done = nbval(quickstart_copy(tmp_path))
    assert done.returncode == 0, done.stdout[-4000:]
    assert (tmp_path / "quickstart.json").exists(), "results went elsewhere"
