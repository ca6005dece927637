"""Published numbers, machine-readable: the JSON files in the repository's papers/ folder.

Each papers/<name>.json holds one paper's reported tables (schema in papers/README.md), every table
with its source, a confidence level and a `secondary` flag, so a notebook can show the paper's
number next to ours and say how sure we are of it:

    from srlab import papers
    rows = papers.table("rcan", "table1_ablation")  # [{"confidence": "high", "lsc": False, ...}]

papers/ sits next to the srlab package in a checkout; it is not part of an installed wheel."""

from __future__ import annotations

import json
from pathlib import Path

PAPERS_DIR = Path(__file__).resolve().parents[1] / "papers"


def available() -> list[str]:
    """Names that `load` accepts (the stems of papers/*.json), sorted."""
    return sorted(p.stem for p in _papers_dir().glob("*.json"))


def load(name: str) -> dict:
    """The parsed papers/<name>.json: {"schema", "paper", "tables", "not_found"}."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    names = available()
    if name not in names:
        raise KeyError(f"no paper named {name!r}; available: {', '.join(names)}")
    with open(_papers_dir() / f"{name}.json", encoding="utf-8") as f:
        return json.load(f)


def table(name: str, key: str) -> list[dict]:
    """The rows of one table of a paper, e.g. table("basicvsr", "iconvsr_ablation").

    Every returned row carries `confidence` and `secondary`: its own where the JSON row overrides
    the table's, else the table's. The rows are fresh copies; editing them changes nothing."""
    tables = load(name)["tables"]
    if key not in tables:
        raise KeyError(f"paper {name!r} has no table {key!r}; tables: {', '.join(tables)}")
    defaults = {"confidence": tables[key]["confidence"], "secondary": tables[key]["secondary"]}
    return [{**defaults, **row} for row in tables[key]["rows"]]


def _papers_dir() -> Path:
    if not PAPERS_DIR.is_dir():
        raise FileNotFoundError(
            f"the papers/ folder is not at {PAPERS_DIR}: srlab.papers reads the JSON files of a "
            "source checkout (git clone, then `pip install -e .`); an installed wheel has none"
        )
    return PAPERS_DIR
