"""A tiny training run, for tests/test_train.py: the model, the data, and `run(out_dir)`.

tests/test_train.py launches this file under torchrun with 2 CPU processes (gloo), and calls run()
itself in one process, then compares the two. Each process writes out_dir/rank<r>.pth with its loss
curve and final weights.

    python -m torch.distributed.run --nproc_per_node=2 --master_addr=127.0.0.1 \
        --master_port=29500 tests/train_ddp_script.py OUT_DIR"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from srlab.io import torch_save
from srlab.train import TrainConfig, train


def tiny_sr() -> nn.Module:
    """x2 sub-pixel SR net (ESPCN-like, no batch norm): conv to 4 * 3 channels, pixel shuffle.
    One conv can represent nearest-neighbour x2 upsampling exactly."""
    return nn.Sequential(nn.Conv2d(3, 12, 3, 1, 1), nn.PixelShuffle(2))  # (b,3,h,w) -> (b,3,2h,2w)


class RandomCrops(Dataset):
    """`n` random 16x16 RGB images; each read takes a random 8x8 crop and flip (torch's global
    RNG, like a real patch dataset) as "lq", and its nearest x2 upsample as "gt"."""

    def __init__(self, n: int = 10, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(n, 3, 16, 16, generator=g)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        top, left = torch.randint(0, 9, (2,)).tolist()
        lq = self.images[index, :, top : top + 8, left : left + 8]  # (3, 8, 8)
        if torch.rand(()) < 0.5:
            lq = lq.flip(-1)
        gt = F.interpolate(lq[None], scale_factor=2, mode="nearest")[0]  # (3, 16, 16)
        return {"lq": lq, "gt": gt}


def ddp_config(out_dir: str | None) -> TrainConfig:
    return TrainConfig(
        iters=4, batch_size=4, lr=1e-2, ema_decay=0.5, out_dir=out_dir, ckpt_every=2,
        progress=False,
    )  # fmt: skip


def run(out_dir: str) -> dict:
    """Train tiny_sr() on RandomCrops() for ddp_config(out_dir); write and return this process's
    {"loss": [...], "params": state_dict, "ema": state_dict}."""
    torch.manual_seed(0)
    model = tiny_sr()
    history = train(model, RandomCrops(), ddp_config(out_dir))
    result = {"loss": history["loss"], "params": model.state_dict()}
    result["ema"] = history["ema"].state_dict()
    torch_save(Path(out_dir) / f"rank{os.environ.get('RANK', '0')}.pth", result)
    return result


if __name__ == "__main__":
    run(sys.argv[1])
