"""Notebooks are written as plain Python in jupytext's percent format (notebooks/src/<name>.py),
paired with notebooks/<name>.ipynb (jupytext.toml), so that a reviewer reads and diffs code, not
JSON. jupytext reads the sources (with or without a jupytext header); this script adds what
jupytext does not: stable cell ids, an execution that never leaves a half-run notebook behind,
and a prose update that refuses to pair outputs with code they did not come from.

    python tools/nb.py build             # notebooks/src/*.py -> notebooks/*.ipynb, no outputs
    python tools/nb.py run quickstart    # build, execute with papermill (default profile) and
                                         # keep the executed copy as the committed notebook
    python tools/nb.py prose quickstart  # copy edited markdown cells into the executed notebook,
                                         # refused if any code cell differs from the source

Cell markers: `# %%` starts a code cell, `# %% [markdown]` a markdown cell (lines start with "# "),
`# %% tags=["parameters"]` the papermill parameters cell. In JupyterLab (with jupytext installed)
a source opens as a notebook; `jupytext --sync notebooks/src/<name>.py` updates the paired
notebook's cells and keeps the outputs of unchanged code cells (`prose`, without the refusal)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "notebooks" / "src"


def parse(text: str) -> list[nbformat.NotebookNode]:
    """The cells of a percent-format source, as jupytext reads them (only tags kept as metadata)."""
    cells = jupytext.reads(text, fmt="py:percent").cells
    for cell in cells:
        tags = cell.metadata.get("tags")
        cell.metadata = nbformat.NotebookNode({"tags": tags} if tags else {})
    return cells


def build(name: str, out: Path | None = None) -> Path:
    """Write notebooks/<name>.ipynb (or `out`) from notebooks/src/<name>.py, without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.cells = parse((SRC / f"{name}.py").read_text())
    for i, cell in enumerate(nb.cells):
        cell.id = f"{name[:20]}-{i:02d}"  # stable ids: rebuilding gives an identical file
    nb.metadata["kernelspec"] = dict(name="python3", display_name="Python 3", language="python")
    nb.metadata["language_info"] = {"name": "python"}
    out = out or ROOT / "notebooks" / f"{name}.ipynb"
    nbformat.write(nb, out)
    return out


def run(name: str, *args: str) -> None:
    """Execute into a temporary file and replace the committed notebook only if every cell ran:
    a failed or interrupted run never leaves a half-executed notebook behind."""
    path = ROOT / "notebooks" / f"{name}.ipynb"
    source = build(name, path.with_name(f".{name}.source.ipynb"))
    tmp = path.with_name(f".{name}.running.ipynb")
    cmd = [sys.executable, "-m", "papermill", str(source), str(tmp), "-k", "python3"]
    cmd += ["--cwd", str(path.parent), *args]
    try:
        subprocess.run(cmd, check=True)
        os.replace(tmp, path)
    finally:
        source.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def prose(name: str) -> None:
    """Bring the markdown cells of the committed (executed) notebook up to date with the source,
    keeping every code cell with its outputs: prose can be corrected, added or removed without
    re-running. Refused when the code cells differ from the source's, since the outputs would
    then not be the source's."""
    path = ROOT / "notebooks" / f"{name}.ipynb"
    executed = nbformat.read(path, 4)
    ran = [c for c in executed.cells if c.cell_type == "code"]  # with papermill's injected cell
    ran_source = [c for c in ran if "injected-parameters" not in c.metadata.get("tags", [])]
    built = parse((SRC / f"{name}.py").read_text())
    if [c.source for c in ran_source] != [c.source for c in built if c.cell_type == "code"]:
        sys.exit(f"{name}: code cells differ from the source; re-run it (tools/nb.py run {name})")
    cells, ran = [], iter(ran)
    for cell in built:
        if cell.cell_type != "code":
            cells.append(cell)
            continue
        cells.append(next(ran))
        if "parameters" in cell.metadata.get("tags", []):  # papermill's cell follows it
            injected = [
                c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])
            ]
            cells += [next(ran) for _ in injected]
    for i, cell in enumerate(cells):
        if cell.cell_type == "markdown":
            cell.id = f"{name[:20]}-md{i:02d}"
    executed.cells = cells
    nbformat.write(executed, path)


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("build", "run", "prose"):
        sys.exit(__doc__)
    if sys.argv[1] == "build":
        names = sys.argv[2:] or sorted(p.stem for p in SRC.glob("*.py"))
        for n in names:
            print(build(n))
    elif sys.argv[1] == "prose":
        prose(sys.argv[2])
    else:
        run(sys.argv[2], *sys.argv[3:])
