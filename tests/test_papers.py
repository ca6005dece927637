"""papers/*.json: the schema of papers/README.md, and our transcription against the reference.

The reference is the project's shared/reference/papers.md (and basicsr_state_dicts.json for
parameter counts) and, for the seed claims, the seed notes they cite (shared/seeds/); copies of
them are committed in tests/data/ (see its README), so these checks run on any checkout."""

from __future__ import annotations

import gzip
import itertools
import json
import math
import re
from pathlib import Path

import pytest

from srlab import papers

DATA = Path(__file__).resolve().parent / "data"
PAPERS_MD = DATA / "papers.md"  # a copy of shared/reference/papers.md
SEEDS = DATA / "seeds"  # copies of the shared/seeds/ notes that papers/pruning.json cites
STATE_DICTS = DATA / "basicsr_state_dicts.json.gz"  # a gzip of the reference

CONFIDENCE = {"high", "medium-high", "medium", "medium-low", "low", "unverified", "computed"}
ORIGINS = {"paper", "official_code", "reproduction", "author_statement", "computed"}
SECONDARY_ORIGINS = {"secondary", "recollection", "seed_note"}
TABLE_KEYS = {
    "description",
    "dataset",
    "scale",
    "metric",
    "channel",
    "source",
    "confidence",
    "secondary",
    "origin",
    "values",
    "rows",
}
EXPECTED = {
    "basicvsr",
    "duf",
    "edsr",
    "edvr",
    "esrgan",
    "hifacegan",
    "pruning",
    "rcan",
    "realtime",
    "srresnet",
    "tof",
}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def test_every_expected_paper_is_available():
    assert set(papers.available()) == EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_json_follows_the_schema(name):
    doc = papers.load(name)
    assert doc["schema"] == 1
    assert doc["paper"]["key"] == name
    assert isinstance(doc["paper"]["title"], str) and doc["paper"]["title"]
    assert all(isinstance(s, str) and s for s in doc["not_found"])
    assert doc["tables"], f"{name}: no tables"
    for key, t in doc["tables"].items():
        where = f"{name}.{key}"
        assert TABLE_KEYS <= set(t), f"{where}: missing {TABLE_KEYS - set(t)}"
        assert isinstance(t["description"], str) and t["description"], where
        assert isinstance(t["source"], str) and t["source"], where
        assert t["channel"] in {"y", "rgb", None}, where
        assert t["scale"] is None or isinstance(t["scale"], int), where
        assert t["rows"] and isinstance(t["values"], list), where
        for row in t["rows"]:
            _check_row(row, t, where)


def _check_row(row: dict, t: dict, where: str) -> None:
    confidence = row.get("confidence", t["confidence"])
    origin = row.get("origin", t["origin"])
    secondary = row.get("secondary", t["secondary"])
    assert confidence in CONFIDENCE, f"{where}: confidence {confidence!r}"
    assert origin in ORIGINS | SECONDARY_ORIGINS, f"{where}: origin {origin!r}"
    assert secondary is (origin in SECONDARY_ORIGINS), f"{where}: secondary={secondary}, {origin}"
    if secondary:
        assert confidence not in {"high", "computed"}, f"{where}: secondary but {confidence}"
    assert (confidence == "computed") is (origin == "computed"), where
    for field, v in row.items():
        assert v is None or isinstance(v, (str, bool, int, float)), f"{where}.{field}: {v!r}"
    for field in t["values"]:
        assert field in row, f"{where}: row lacks value {field!r}: {row}"
        assert row[field] is None or _is_number(row[field]), f"{where}.{field}: {row[field]!r}"
    if "psnr" in t["values"]:
        if t["dataset"] is None:
            assert "dataset" in row, f"{where}: no dataset for {row}"
        assert row["psnr"] is None or 15 < row["psnr"] < 50, f"{where}: psnr {row['psnr']}"
    if "ssim" in t["values"] and row["ssim"] is not None:
        assert 0 < row["ssim"] <= 1, f"{where}: ssim {row['ssim']}"


def test_table_fills_in_confidence_and_secondary_per_row():
    rows = papers.table("basicvsr", "iconvsr_ablation")
    by = {(r["dataset"], r["variant"]): r for r in rows}
    assert by["REDS4", "BasicVSR"]["confidence"] == "medium"
    assert by["REDSval4", "BasicVSR"]["confidence"] == "low"  # the row's own override wins
    assert all(r["secondary"] is True for r in rows)
    rows[0]["psnr"] = 0.0  # a copy: the next call is unaffected
    assert papers.table("basicvsr", "iconvsr_ablation")[0]["psnr"] == 31.42


def test_unknown_names_are_errors_that_list_the_choices():
    with pytest.raises(KeyError, match="available: basicvsr, duf, edsr"):
        papers.load("rcan_x9")
    with pytest.raises(KeyError, match="tables: table1_ablation"):
        papers.table("rcan", "table9")
    with pytest.raises(TypeError):
        papers.load(None)


def test_missing_papers_folder_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(papers, "PAPERS_DIR", tmp_path / "papers")
    with pytest.raises(FileNotFoundError, match="source checkout"):
        papers.load("rcan")


def test_rcan_table1_has_each_lsc_ssc_ca_combination_once():
    rows = papers.table("rcan", "table1_ablation")
    combos = [(r["lsc"], r["ssc"], r["ca"]) for r in rows]
    assert sorted(combos) == sorted(itertools.product([False, True], repeat=3))
    full = {c: r["psnr"] for c, r in zip(combos, rows, strict=True)}
    assert max(full, key=full.get) == (True, True, True)  # the paper's point: all three help


def test_iconvsr_ablation_is_cumulative_and_basicvsr_consistent():
    reds4 = {
        r["variant"]: r["psnr"]
        for r in papers.table("basicvsr", "iconvsr_ablation")
        if r["dataset"] == "REDS4"
    }
    assert reds4["BasicVSR"] < reds4["+coupled"] < reds4["+coupled+refill (IconVSR)"]
    main = {
        (r["method"], r["dataset"], r["degradation"]): r["psnr"]
        for r in papers.table("basicvsr", "main_results")
    }
    assert main["BasicVSR", "REDS4", "BI"] == reds4["BasicVSR"]
    assert main["IconVSR", "REDS4", "BI"] == reds4["+coupled+refill (IconVSR)"]


@pytest.mark.parametrize("name,key", [("pruning", "seed_claims"), ("realtime", "guide_claims")])
def test_seed_claims_quote_the_seed_lines_they_cite(name, key):
    rows = papers.table(name, key)
    assert rows
    for row in rows:
        m = re.match(r"shared/seeds/(\S+):(\d+)(?:-(\d+))?", row["source"])
        assert m, row["source"]
        lines = (SEEDS / m[1]).read_text(encoding="utf-8").splitlines()
        first, last = int(m[2]), int(m[3] or m[2])
        cited = "".join(lines[first - 1 : last]).replace(" ", "").replace("*", "")  # no markdown
        for part in row["quote"].replace(" ", "").split("..."):  # "..." joins separate lines
            assert part in cited, f"{row['source']}: {part!r} is not on those lines"


def _md_table(heading: str) -> list[list[str]]:
    """Cells of the first markdown table after the line that contains `heading`."""
    lines = PAPERS_MD.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if heading in line)
    rows = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    return rows[1:]  # without the header


def _pair(cell: str) -> tuple[float, float]:
    p, s = cell.split("/")
    return float(p), float(s)


def test_rcan_table1_matches_reference():
    ref = {tuple(c == "✓" for c in r[:3]): float(r[3]) for r in _md_table("### 1a. Table 1")}
    ours = {
        (r["lsc"], r["ssc"], r["ca"]): r["psnr"] for r in papers.table("rcan", "table1_ablation")
    }
    assert len(ref) == 8 and ours == ref


def test_rcan_bi_results_match_reference():
    ours = {
        (r["model"], r["scale"], r["dataset"]): (r["psnr"], r["ssim"])
        for r in papers.table("rcan", "bi_results")
    }
    datasets = ["Set5", "Set14", "B100", "Urban100", "Manga109"]
    ref = {}
    for r in _md_table("### 1c. BI degradation"):
        for d, cell in zip(datasets, r[2:], strict=True):
            ref[r[1], int(r[0].lstrip("×")), d] = _pair(cell)
    assert len(ref) == 40 and ours == ref


def test_edsr_specs_and_benchmark_match_reference():
    specs = _md_table("### 2a. Model specifications")
    ours = papers.table("edsr", "model_specs")
    assert [
        (r["num_block"], r["num_feat"], r["params_paper_m"], r["params_pytorch_m"]) for r in ours
    ] == [(int(r[1]), int(r[2]), float(r[3][:-1]), float(r[4][:-1])) for r in specs]
    computed = {int(r[5].replace(",", "")) for r in specs if r[5] != "n/a"}
    assert {r["params"] for r in papers.table("edsr", "params_computed")} == computed

    ref = {}
    for r in _md_table("### 2b. Benchmark"):
        for model, cell in zip(["EDSR", "EDSR+", "MDSR", "MDSR+"], r[2:], strict=True):
            ref[model, r[0], int(r[1].lstrip("×"))] = _pair(cell)
    ours = {
        (r["model"], r["dataset"], r["scale"]): (r["psnr"], r["ssim"])
        for r in papers.table("edsr", "benchmark")
    }
    assert len(ref) == 60 and ours == ref


def test_basicvsr_tables_match_reference():
    ref = {r[0].split(" (")[0]: (float(r[1]), float(r[2])) for r in _md_table("### 3c. IconVSR")}
    ours = {}
    for r in papers.table("basicvsr", "iconvsr_ablation"):
        ours.setdefault(r["variant"], {})[r["dataset"]] = r["psnr"]
    names = {
        "BasicVSR": "BasicVSR",
        "+coupled": "+ coupled propagation",
        "+coupled+refill (IconVSR)": "+ information-refill",
    }
    assert {names[k]: (v["REDS4"], v["REDSval4"]) for k, v in ours.items()} == ref

    cols = [
        ("REDS4", "BI"),
        ("Vimeo-90K-T", "BI"),
        ("Vid4", "BI"),
        ("UDM10", "BD"),
        ("Vimeo-90K-T", "BD"),
        ("Vid4", "BD"),
    ]
    ref = {}
    for r in _md_table("**Main results, ×4"):
        for (d, deg), cell in zip(cols, r[2:], strict=True):
            ref[r[0], d, deg] = _pair(cell)
    ours = {
        (r["method"], r["dataset"], r["degradation"]): (r["psnr"], r["ssim"])
        for r in papers.table("basicvsr", "main_results")
    }
    assert len(ref) == 18 and ours == ref

    text = PAPERS_MD.read_text(encoding="utf-8")
    assert "drop of 0.5 dB" in text and "PSNR drops 1.19 dB" in text and "drop of 0.17 dB" in text
    deltas = [
        r["delta_db"]
        for k in ("propagation_uni_vs_bi", "alignment_ablation")
        for r in papers.table("basicvsr", k)
    ]
    assert deltas == [-0.5, -1.19, -0.17]


def test_computed_param_counts_match_basicsr_state_dicts():
    manifest = json.loads(gzip.decompress(STATE_DICTS.read_bytes()))
    ref = {k: v["num_params"] for k, v in manifest.items()}
    pairs = [  # (reference key, paper, table, row filter)
        ("rcan_x2", "rcan", "params_computed", {"scale": 2}),
        ("rcan_x3", "rcan", "params_computed", {"scale": 3}),
        ("edsr_baseline_x2", "edsr", "params_computed", {"model": "EDSR_baseline", "scale": 2}),
        ("edsr_baseline_x4", "edsr", "params_computed", {"model": "EDSR_baseline", "scale": 4}),
        ("edsr_x2", "edsr", "params_computed", {"model": "EDSR", "scale": 2}),
        ("basicvsr", "basicvsr", "params_computed", {"model": "BasicVSR", "component": "total"}),
        ("spynet", "basicvsr", "params_computed", {"model": "BasicVSR", "component": "SPyNet"}),
        ("edvr_m", "edvr", "params_computed", {"model": "EDVR-M", "with_tsa": True}),
        ("edvr_l", "edvr", "params_computed", {"model": "EDVR-L", "num_frame": 5}),
        ("msrresnet_x4", "srresnet", "params_computed", {"scale": 4}),
        ("rrdbnet_x4", "esrgan", "params_computed", {"model": "RRDBNet"}),
        ("vgg_discriminator_128", "esrgan", "params_computed", {"input_size": 128}),
        ("duf_16l_x2", "duf", "params_computed", {"num_layer": 16, "scale": 2}),
        ("duf_16l_x3", "duf", "params_computed", {"num_layer": 16, "scale": 3}),
        ("duf_16l_x4", "duf", "params_computed", {"num_layer": 16, "scale": 4}),
        ("duf_28l_x4", "duf", "params_computed", {"num_layer": 28}),
        ("duf_52l_x4_official", "duf", "params_computed", {"num_layer": 52}),
        ("tof_official", "tof", "params_computed", {"model": "TOFlow"}),
        ("hifacegan", "hifacegan", "params_computed", {"model": "HiFaceGAN generator"}),
        (
            "hifacegan_discriminator",
            "hifacegan",
            "params_computed",
            {"model": "HiFaceGANDiscriminator"},
        ),
    ]
    for key, name, tab, where in pairs:
        rows = [r for r in papers.table(name, tab) if all(r.get(k) == v for k, v in where.items())]
        assert len(rows) == 1, (key, rows)
        assert rows[0]["params"] == ref[key], key
    iconvsr = papers.table("basicvsr", "params_computed")
    assert [r["params"] for r in iconvsr if r["component"] == "total"][1] == ref["iconvsr"]


def test_duf_and_tof_vid4_rows_match_the_reference_model_zoo_lines():
    """Every Vid4 PSNR/SSIM pair of duf.json and tof.json is printed on the reference's model-zoo
    line for that model (papers.md section 4b; MMagic's TOF in 4c)."""
    lines = PAPERS_MD.read_text(encoding="utf-8").splitlines()
    duf_line = next(ln for ln in lines if ln.startswith("| DUF_x4_52L_official"))
    tof_line = next(ln for ln in lines if ln.startswith("| TOF_official"))
    mmagic = next(ln for ln in lines if ln.startswith("MMagic TOF"))
    for paper, line in (("duf", duf_line), ("tof", tof_line)):
        for row in papers.table(paper, "vid4"):
            where = mmagic if "MMagic" in row["model"] else line
            pair = f"{row['psnr']:.4f}/{row['ssim']:.4f}" if "MMagic" in row["model"] else None
            pair = pair or f"{row['psnr']:.2f}/{row['ssim']:.4f}"
            assert pair in where, (paper, row)
            channel = "(Y)" if row["channel"] == "y" else "(RGB)"
            assert "MMagic" in row["model"] or channel in where
