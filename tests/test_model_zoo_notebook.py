"""notebooks/model_zoo.ipynb with a weights_dir: each file is matched to the preset it fits and
scored on the same frames; a file that fits nothing is reported as such. (Without weights it runs
in test_notebooks.py with every other notebook.)

No official checkpoint can be downloaded here, so the files are made in the test, in BasicSR's
{"params": state_dict} layout, with the layer that adds each model's residual set to zero: then
MSRResNet returns its bilinear base, DUF its dynamic filtering of the centre frame, and TOFlow the
bicubic-upsampled centre frame, whose score must equal the notebook's bicubic floor."""

import json
from pathlib import Path

import papermill
import pytest
import torch
from test_notebooks import check_results

from srlab.archs import build

ROOT = Path(__file__).resolve().parents[1]
ZEROED = {  # preset -> the parameters that add its residual
    "msrresnet_x2": ("conv_last.weight", "conv_last.bias"),
    "duf_16l_x4": ("conv3d_r2.weight", "conv3d_r2.bias"),
    "tof": ("conv_4.weight", "conv_4.bias"),
}


@pytest.mark.slow
def test_model_zoo_matches_and_scores_the_checkpoints_in_weights_dir(tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    for preset, zeroed in ZEROED.items():
        torch.manual_seed(0)
        state = build(preset).state_dict()
        state.update({k: torch.zeros_like(state[k]) for k in zeroed})
        torch.save({"params": state}, weights / f"{preset}_official.pth")
    torch.save({"params": build("spynet").state_dict()}, weights / "spynet.pth")  # fits nothing
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "model_zoo.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={
            "profile": "smoke",
            "systems": "SRResNet,DUF,TOF",
            "weights_dir": str(weights),
            "out_dir": str(tmp_path),
            "results_dir": str(tmp_path),
        },
        kernel_name="python3",
        cwd=str(ROOT / "notebooks"),
        progress_bar=False,
    )
    results_file = tmp_path / "model_zoo_smoke.json"
    check_results(results_file)
    results = json.loads(results_file.read_text())
    assert results["weights_dir_given"] is True
    assert sorted((m["system"], m["preset"]) for m in results["matches"]) == [
        ("DUF", "duf_16l_x4"),
        ("SRResNet", "msrresnet_x2"),
        ("TOF", "tof"),
    ]
    scores = {s["preset"]: s for s in results["scores"]}
    assert scores["msrresnet_x2"]["scale"] == 2 and scores["duf_16l_x4"]["degradation"] == "DUF"
    # TOFlow without its residual is its input: the bicubic-upsampled centre frame.
    assert scores["tof"]["psnr_y"] == pytest.approx(results["bicubic_floor_psnr_y"]["BI"], abs=0.01)
    assert [r["system"] for r in results["rows"]] == ["SRResNet", "DUF", "TOF"]
