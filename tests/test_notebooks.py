"""Every notebook executes at its smoke profile (any cell error fails), and each committed .ipynb
holds exactly the cells of its source in notebooks/src/ (read by jupytext, built by tools/nb.py)."""

import copy
import functools
import json
import math
import operator
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import papermill
import pytest

from srlab.io import imwrite, to_tensor

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").glob("*.ipynb") if not p.name.startswith("."))
sys.path.insert(0, str(ROOT / "tools"))
import nb as nbtool  # noqa: E402
from test_train import free_port  # noqa: E402


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


def test_sources_are_read_by_jupytext_with_or_without_a_header():
    """A source that jupytext wrote (with its YAML header) and one without give the same cells."""
    text = '# %% [markdown]\n# Title\n\n# %% tags=["parameters"]\nprofile: str = "quick"\n'
    header = (
        "# ---\n# jupyter:\n#   jupytext:\n#     text_representation:\n#       extension: .py\n"
        "#       format_name: percent\n#       format_version: '1.3'\n#   kernelspec:\n"
        "#     display_name: Python 3\n#     language: python\n#     name: python3\n# ---\n\n"
    )
    for source in (text, header + text):
        cells = nbtool.parse(source)
        assert [(c.cell_type, c.source, c.metadata) for c in cells] == [
            ("markdown", "Title", {}),
            ("code", 'profile: str = "quick"', {"tags": ["parameters"]}),
        ]


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
        check_results(path)


# What a results file must look like. A key holds PSNRs in dB if its name or an enclosing key's
# says "psnr", unless one of them marks a difference or a spread (verdicts hold differences too);
# it holds times (or rates) if a name ends in _s or _ms or says time, latency or ms_per, unless it
# is a spread (iqr, std). The notebook's parameters are inputs, not results: they are not read.
NOT_A_PSNR = ("delta", "diff", "std", "gap", "minus", "cost", "verdict")
NOT_A_TIME = ("iqr", "std")
PSNR_RANGE_DB = (5.0, 60.0)  # below 5 dB is noise, above 60 dB a copy of the ground truth


def _leaves(obj, keys=()):
    """(keys, value) for every leaf of a parsed JSON document; list indices are ints in keys."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _leaves(v, (*keys, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _leaves(v, (*keys, i))
    else:
        yield keys, obj


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_results(path: Path) -> dict[str, int]:
    """Fail unless the results file has provenance, only finite numbers, every PSNR within
    PSNR_RANGE_DB, every time positive, and at least one of each. Returns the counts."""

    def refuse(constant):
        raise AssertionError(f"{path.name} holds a non-finite number: {constant}")

    results = json.loads(path.read_text(), parse_constant=refuse)
    assert "provenance" in results, f"{path.name} has no provenance"
    counts = {"psnr": 0, "time": 0}
    for keys, value in _leaves(results):
        names = [k.lower() for k in keys if isinstance(k, str)]
        where = f"{path.name}: " + "".join(f"[{k!r}]" for k in keys)
        if "parameters" in names:
            continue
        if any("psnr" in n for n in names) and not any(w in n for n in names for w in NOT_A_PSNR):
            low, high = PSNR_RANGE_DB
            assert _is_number(value) and low <= value <= high, f"{where} = {value!r}, not a PSNR"
            counts["psnr"] += 1
        elif any(
            n.endswith(("_s", "_ms")) or any(w in n for w in ("time", "latency", "ms_per"))
            for n in names
        ) and not any(w in n for n in names for w in NOT_A_TIME):
            if isinstance(value, str | bool):
                continue  # a description ("runtime": "median over ...") or a switch
            assert _is_number(value) and value > 0, f"{where} = {value!r}, not a positive time"
            counts["time"] += 1
    assert counts["psnr"] > 0, f"{path.name} holds no PSNR"
    assert counts["time"] > 0, f"{path.name} holds no time"
    return counts


def test_results_check_sees_what_it_is_for(tmp_path):
    good = {
        "provenance": {"wall_time_s": 3.4, "parameters": {"zoo_latency": False, "seeds": "0"}},
        "variants": [{"psnr_per_seed": [29.1, 29.3], "psnr_std": None, "delta_psnr_db": -0.2}],
        "points": [{"latency_ms": 0.3, "latency_iqr_ms": 0.0}],
        "verdicts": [{"psnr_before": [-0.2, None, "not resolved"]}],
        "protocol": {"runtime": "median over clips"},
    }
    path = tmp_path / "r.json"
    path.write_text(json.dumps(good))
    assert check_results(path) == {"psnr": 2, "time": 2}
    variant, point = ("variants", 0), ("points", 0)
    bad = [  # (where, key, value, the error it gives)
        (variant, "psnr_std", math.nan, "non-finite number: NaN"),  # json.dump's bare NaN
        (variant, "delta_psnr_db", math.inf, "non-finite number: Infinity"),
        (variant, "psnr_per_seed", [29.1, None], r"\['psnr_per_seed'\]\[1\] = None, not a PSNR"),
        (variant, "psnr_per_seed", [29.1, 0.0], "= 0.0, not a PSNR"),
        (variant, "psnr_per_seed", [29.1, 61.0], "= 61.0, not a PSNR"),
        (variant, "psnr_per_seed", [], "holds no PSNR"),
        (point, "latency_ms", 0.0, "= 0.0, not a positive time"),
        (("provenance",), "wall_time_s", None, "= None, not a positive time"),
    ]
    for where, key, value, match in bad:
        results = copy.deepcopy(good)
        functools.reduce(operator.getitem, where, results)[key] = value
        path.write_text(json.dumps(results))
        with pytest.raises(AssertionError, match=match):
            check_results(path)


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


def fake_images(root, n: int, size: int, split: str) -> None:
    """A stand-in for DIV2K or Set5 HR: the top-left size x size of n bundled images of a split,
    as PNGs in root (natural images: NIQE needs texture, which random pixels after an untrained
    model lack)."""
    from srlab.data import bundled_images

    for name, img in list(bundled_images(split).items())[:n]:
        imwrite(root / f"{name}.png", img[:size, :size])


# Each training notebook's paper profile, end to end with tiny overrides (sizes, steps, seeds) on
# fake real data: what a GPU user runs, minus the hours. The paper profiles' other settings stay.
PAPER_RUNS = {
    "rcan_ablation": dict(num_group=2, num_block=1, num_feat=8, squeeze_factor=2, iters=2,
                          patch_size=8, batch_size=2, seeds="0", test_size=32),
    "pruning_curves": dict(num_feat=8, num_group=2, num_block=2, squeeze_factor=4, train_iters=2,
                           finetune_iters=1, batch_size=2, patch_size=12, blocks="1", groups="1",
                           feats="4", seeds="0", eval_size=16, latency_size=16, repeats=2,
                           threads=1),
    "esrgan_perception": dict(num_feat=8, num_block=1, num_grow_ch=4, d_feat=4, psnr_iters=3,
                              psnr_patch=8, psnr_lr=2e-3, gan_iters=2, gan_patch=8, batch_size=2,
                              seeds="0",
                              threads=1, alphas="0,1", ablations=""),
    "basicvsr_ablation": dict(num_feat=8, num_block=1, num_feat_hr=8, iters=2, batch_size=2,
                              patch=16, num_frames=3, spynet_iters=2, spynet_clips=2, segments=2),
    "iconvsr_keyframes": dict(num_feat=8, num_block=1, num_feat_hr=8, temporal_padding=1, iters=2,
                              batch_size=2, patch=8, num_frames=3, spynet_iters=2,
                              spynet_clips=2, test_frames=6, test_size=64, threads=1,
                              keyframe_strides="0,2"),
    "realtime_video": dict(num_feat=8, num_block=1, num_feat_hr=8, iters=2, num_frames=3, patch=16,
                           seeds="0", spynet_iters=2, spynet_clips=2, train_frames=4,
                           test_clips=1, test_frames=6,
                           intervals="2,3,6", latency_intervals="2,3", latency_frames=4,
                           lr_sizes="12x16", variants="fp32", variant_interval=3,
                           variant_frames=4, repeats=2, paper_lr_size=0, targets="36x48@25",
                           threads=1),
}  # fmt: skip


def paper_data(name: str, root: Path) -> dict:
    """The data_root (and test_root) parameters of a notebook's paper profile, made up in root."""
    if name in ("basicvsr_ablation", "iconvsr_keyframes"):
        fake_reds(root)
        return {"data_root": str(root)}
    if name == "pruning_curves":
        fake_images(root / "train", 2, 64, "train")
        fake_images(root / "test", 1, 64, "test")
        return {"data_root": str(root / "train"), "test_root": str(root / "test")}
    if name in ("rcan_ablation", "esrgan_perception"):
        fake_images(root / "train", 2, 64, "train")
        fake_images(root / "test", 1, 384, "test")  # whole: NIQE needs textured 96x96 blocks
        return {"data_root": str(root)}
    return {}  # realtime_video trains on the bundled clips


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PAPER_RUNS))
def test_paper_profiles_run_end_to_end_with_tiny_overrides(tmp_path, name):
    parameters = {**PAPER_RUNS[name], **paper_data(name, tmp_path / "data")}
    papermill.execute_notebook(
        str(ROOT / "notebooks" / f"{name}.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={"profile": "paper", "out_dir": str(tmp_path), "results_dir": str(tmp_path),
                    **parameters},
        kernel_name="python3",
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )  # fmt: skip
    (path,) = tmp_path.glob("*.json")
    check_results(path)
    provenance = json.loads(path.read_text())["provenance"]
    assert provenance["parameters"]["profile"] == "paper"
    # srlab.device's rule on a machine without a GPU: the CPU, in float32
    assert (provenance["device"], provenance["precision"]) == ("cpu", "fp32")
    if name in ("basicvsr_ablation", "iconvsr_keyframes"):  # on a REDS folder
        results = json.loads(path.read_text())
        assert results["protocol"]["data"] == str(tmp_path / "data")
        assert results["protocol"]["test_clips"] == ["000"]  # REDS4 only; 001, 002 train
        # basicvsr_ablation's paper profile scores whole clips; iconvsr_keyframes' test_frames
        assert results["protocol"]["frames_per_clip"] == (8 if name == "basicvsr_ablation" else 6)
    if name == "basicvsr_ablation":  # real clips have no true flow: no oracle rows
        assert all(row["flow"] != "oracle" for row in results["variants"])
        assert results["spynet_minus_true_flow_same_network"] is None
        assert results["knob_study"]["rows"] == []  # no knob to turn on real clips
    if name == "iconvsr_keyframes":  # and no end-point error of SpyNet
        assert results["spynet"] is None


@pytest.mark.parametrize("name", ["basicvsr_ablation", "iconvsr_keyframes"])
def test_video_notebooks_reject_oracle_flow_on_real_clips(tmp_path, name):
    with pytest.raises(papermill.PapermillExecutionError, match="flow='oracle' needs the true"):
        run_smoke(name, tmp_path, data_root=str(tmp_path), flow="oracle")


@pytest.mark.parametrize("name", ["basicvsr_ablation", "iconvsr_keyframes"])
def test_video_notebooks_reject_noise_on_real_clips(tmp_path, name):
    # the quick profile's noise is for the synthetic clips; asked for explicitly on REDS, it fails
    with pytest.raises(papermill.PapermillExecutionError, match="noise is added to the synthetic"):
        run_smoke(name, tmp_path, data_root=str(tmp_path), noise=0.05)


def test_iconvsr_keyframes_rejects_num_objects_on_real_clips(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="num_objects sets the synthetic"):
        run_smoke("iconvsr_keyframes", tmp_path, data_root=str(tmp_path), num_objects=6)


def test_basicvsr_ablation_rejects_an_unknown_knob(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="knob must be 'noise' or 'motion'"):
        run_smoke("basicvsr_ablation", tmp_path, knob="blur")


@pytest.mark.parametrize(
    "params",
    [
        dict(knob_seeds="2"),  # not among the seeds of section 4's model at the reference setting
        # that model is a variant here (the reference is unidirectional): it has variant_seeds
        dict(propagation="unidirectional", variant_seeds="1", knob_seeds="0"),
    ],
)
def test_basicvsr_ablation_rejects_knob_seeds_it_cannot_pair(tmp_path, params):
    with pytest.raises(papermill.PapermillExecutionError, match=r"knob_seeds \(\d\) must be among"):
        run_smoke("basicvsr_ablation", tmp_path, **params)


@pytest.mark.parametrize("name", ["not_a_parameter", "SCALE", "_scale"])
def test_unknown_parameter_fails_the_run(tmp_path, name):
    """Any name that is not declared, whatever its case or a leading underscore: papermill itself
    only warns, and `-p SCALE 2` would otherwise run at scale 4 without a word."""
    path = ROOT / "notebooks" / "quickstart.ipynb"
    with pytest.raises(papermill.PapermillExecutionError, match=name):
        papermill.execute_notebook(
            str(path),
            str(tmp_path / "out.ipynb"),
            parameters={
                "profile": "smoke",
                "out_dir": str(tmp_path),
                "results_dir": str(tmp_path),
                name: 2,
            },
            kernel_name="python3",
            cwd=str(path.parent),
            progress_bar=False,
        )


@pytest.mark.slow
def test_papermill_from_the_project_root_writes_inside_the_project(tmp_path):
    """The README's command, run from the root without --cwd: the kernel's working directory is
    the root, and the defaults "../figures" and "../results" must still mean the project's
    figures/ and results/. Run on a copy of the project (srlab, papers and the notebook), so that
    the checkout is never written to."""
    project = tmp_path / "project"
    for folder in ("srlab", "papers"):
        shutil.copytree(
            ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    (project / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "quickstart.ipynb", project / "notebooks")
    env = {**os.environ, "PYTHONPATH": str(project)}
    done = subprocess.run(
        [sys.executable, "-m", "papermill", "notebooks/quickstart.ipynb", "out.ipynb",
         "-p", "profile", "smoke", "-k", "python3", "--no-progress-bar"],
        cwd=project, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert {p.name for p in (project / "figures").glob("*.png")} >= {"quickstart_bi_vs_bd.png"}
    check_results(project / "results" / "quickstart.json")
    assert not (tmp_path / "figures").exists() and not (tmp_path / "results").exists()


def test_prose_updates_markdown_and_keeps_outputs_but_refuses_code_changes(tmp_path, monkeypatch):
    (tmp_path / "notebooks" / "src").mkdir(parents=True)
    monkeypatch.setattr(nbtool, "ROOT", tmp_path)
    monkeypatch.setattr(nbtool, "SRC", tmp_path / "notebooks" / "src")
    src = tmp_path / "notebooks" / "src" / "demo.py"
    src.write_text("# %% [markdown]\n# Old text\n\n# %%\nprint(1)\n")
    path = nbtool.build("demo")
    executed = nbformat.read(path, 4)
    executed.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    nbformat.write(executed, path)
    src.write_text("# %% [markdown]\n# New text\n\n# %%\nprint(1)\n\n# %% [markdown]\n# Added\n")
    nbtool.prose("demo")
    cells = nbformat.read(path, 4).cells
    assert [c.source for c in cells] == ["New text", "print(1)", "Added"]
    assert cells[1].outputs[0]["text"] == "1\n"
    src.write_text("# %% [markdown]\n# New text\n\n# %%\nprint(2)\n")
    with pytest.raises(SystemExit, match="code cells differ"):
        nbtool.prose("demo")
    assert nbformat.read(path, 4).cells[1].source == "print(1)"


@pytest.mark.slow
def test_a_paper_profile_under_torchrun_trains_with_ddp_and_rank_0_writes(tmp_path):
    """The README's multi-GPU command, on 2 CPU processes (gloo): every train() call in the
    notebook runs DistributedDataParallel with half the batch per process, both processes score
    the same models, and only rank 0 writes to the notebook's out_dir and results_dir."""
    data = paper_data("rcan_ablation", tmp_path / "data")
    overrides = {**PAPER_RUNS["rcan_ablation"], "batch_size": 2, "threads": 1, **data}
    parameters = [("profile", "paper"), ("out_dir", str(tmp_path / "figures")),
                  ("results_dir", str(tmp_path / "results")), *overrides.items()]  # fmt: skip
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
               "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "srlab.notebook",
               str(ROOT / "notebooks" / "rcan_ablation.ipynb")]  # fmt: skip
    for name, value in parameters:
        command += ["-p", name, str(value)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rank0 = json.loads((tmp_path / "results" / "rcan_ablation.json").read_text())
    rank1 = json.loads((tmp_path / "out/torchrun/rank1/rcan_ablation.json").read_text())
    assert rank0["provenance"]["world_size"] == rank1["provenance"]["world_size"] == 2
    assert rank0["variants"] == rank1["variants"]  # the same trained models, the same scores
    executed = (tmp_path / "out" / "rcan_ablation.ipynb").read_text()
    assert "DDP: 2 processes, 1 samples each per step, batch 2 in all" in executed
    assert not (tmp_path / "out/torchrun/rank1/figures").exists()  # rank 1 wrote aside only
