"""srlab.archs.pretrained: the small models srlab ships load by name and score what their model
card (srlab/weights/README.md) says."""

import re
import sys
from pathlib import Path

import pytest
import torch

from srlab import archs, checkpoints
from srlab.archs.spynet import SpyNet

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "srlab" / "weights"
ROWS = {  # name -> (test PSNR, bicubic PSNR), from the card's table of small SR models
    m["name"]: (float(m["psnr"]), float(m["bicubic"]))
    for m in re.finditer(
        r"^\| `(?P<name>\w+)` \|[^|]+\|[^|]+\|[^|]+\| (?P<psnr>[\d.]+) \| (?P<bicubic>[\d.]+) \|",
        (WEIGHTS / "README.md").read_text(),
        re.MULTILINE,
    )
}
sys.path.insert(0, str(ROOT / "tools"))
import train_shipped  # noqa: E402


def test_every_shipped_model_has_a_card_row_and_a_recipe():
    assert len(ROWS) >= 4, "the card lists the shipped models"
    assert set(ROWS) == set(archs.pretrained_names()) == set(train_shipped.RECIPES)
    image_scales = {archs.pretrained(n).scale for n in ROWS if not n.startswith("basicvsr")}
    assert image_scales == {2, 4}


def test_unknown_name_lists_the_shipped_ones():
    with pytest.raises(ValueError, match="edsr_tiny_x4"):
        archs.pretrained("edsr_x4")


def test_files_are_plain_srlab_checkpoints_read_with_weights_only():
    for name in ROWS:
        state = torch.load(WEIGHTS / f"{name}.pth", weights_only=True)
        assert state["srlab"]["arch"] in archs.ARCHS
        assert state["recipe"]["seed"] == 0 and state["recipe"]["threads"] == 1
    total = sum((WEIGHTS / f"{name}.pth").stat().st_size for name in ROWS)
    assert total < 4e6, f"{total / 1e6:.1f} MB: the shipped models must stay small"


def test_basicvsr_carries_the_shipped_spynet():
    model = archs.pretrained("basicvsr_tiny_x4")
    spynet = checkpoints.load(SpyNet(), WEIGHTS / train_shipped.SPYNET_FILE)
    for a, b in zip(model.spynet.state_dict().values(), spynet.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ROWS))
def test_shipped_model_scores_what_the_card_says(name):
    """The card's numbers, recomputed from the shipped weights with the training script's own
    evaluation (the protocol the card states); the model beats bicubic."""
    psnr, bicubic = ROWS[name]
    scores = train_shipped.score(name, archs.pretrained(name))
    assert scores["psnr"] == pytest.approx(psnr, abs=0.006)
    assert scores["bicubic_psnr"] == pytest.approx(bicubic, abs=0.006)
    assert scores["psnr"] > scores["bicubic_psnr"]


def test_official_basicsr_weights_still_load_by_preset(tmp_path):
    """pretrained() is for srlab's own files; a BasicSR checkpoint (params key) loads as before."""
    torch.manual_seed(0)
    model = archs.build("edsr", upscale=2, num_feat=8, num_block=1)
    torch.save({"params": model.state_dict()}, tmp_path / "basicsr.pth")
    loaded = checkpoints.load(archs.build("edsr", upscale=2, num_feat=8, num_block=1),
                              tmp_path / "basicsr.pth")  # fmt: skip
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
