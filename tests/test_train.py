"""Tests for srlab.train: the losses, the schedule, EMA, determinism, exact resume, DDP.

The tiny model and data live in tests/train_ddp_script.py, which the DDP test also runs under
torchrun: an x2 sub-pixel conv net on random 8x8 crops whose target is their nearest-neighbour
upsample (a problem one conv can solve exactly)."""

from __future__ import annotations

import importlib.util
import math
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import nn

from srlab import checkpoints
from srlab import train as T
from srlab.archs import build
from srlab.train import TrainConfig, train

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("train_ddp_script", HERE / "train_ddp_script.py")
script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(script)

SMALL = dict(iters=6, batch_size=4, lr=1e-2, progress=False)


def fresh_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return script.tiny_sr()


def run(cfg: TrainConfig, model_seed: int = 0, **kwargs):
    model = fresh_model(model_seed)
    history = train(model, script.RandomCrops(), cfg, **kwargs)
    return model, history


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- losses, schedule, EMA: values on known inputs -------------------------------------------


def test_pixel_loss_values():
    pred = torch.tensor([0.0, 0.5, 1.0, 0.2])
    target = torch.tensor([0.5, 0.5, 0.0, 0.4])  # d = -0.5, 0, 1, -0.2
    assert T.pixel_loss(pred, target, "l1").item() == pytest.approx((0.5 + 0 + 1 + 0.2) / 4)
    assert T.pixel_loss(pred, target, "mse").item() == pytest.approx((0.25 + 0 + 1 + 0.04) / 4)
    expected = sum(math.sqrt(d * d + 0.01) for d in (0.5, 0, 1, 0.2)) / 4
    assert T.pixel_loss(pred, target, "charbonnier", eps=0.01).item() == pytest.approx(expected)
    # BasicSR's eps = 1e-12: Charbonnier is L1 up to ~1e-6 (sqrt(eps) where d = 0).
    l1 = T.pixel_loss(pred, target, "l1").item()
    assert T.pixel_loss(pred, target, "charbonnier").item() == pytest.approx(l1, abs=1e-6)
    with pytest.raises(ValueError, match="kind must be one of"):
        T.pixel_loss(pred, target, "l3")
    with pytest.raises(ValueError, match="same shape"):
        T.pixel_loss(pred, target[:2], "l1")


def test_learning_rate_cosine_and_multistep():
    cfg = TrainConfig(iters=100, lr=2e-4, eta_min=1e-7)
    assert T.learning_rate(0, cfg) == 2e-4
    assert T.learning_rate(50, cfg) == pytest.approx((2e-4 + 1e-7) / 2)
    last = 1e-7 + (2e-4 - 1e-7) * 0.5 * (1 + math.cos(math.pi * 99 / 100))  # ~1.5e-7
    assert T.learning_rate(99, cfg) == pytest.approx(last, rel=1e-12)
    lrs = [T.learning_rate(i, cfg) for i in range(100)]
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    step = TrainConfig(iters=100, lr=1e-4, schedule="multistep", milestones=(20, 60), gamma=0.5)
    got = [T.learning_rate(i, step) for i in (0, 19, 20, 59, 60, 99)]
    assert got == [1e-4, 1e-4, 5e-5, 5e-5, 2.5e-5, 2.5e-5]
    with pytest.raises(ValueError, match="step must lie"):
        T.learning_rate(100, cfg)


def test_ema_update_math():
    model, ema = nn.Linear(2, 1), nn.Linear(2, 1)
    model.register_buffer("count", torch.tensor(7.0))
    ema.register_buffer("count", torch.tensor(0.0))
    before = ema.weight.detach().clone()
    T.ema_update(ema, model, 0.9)
    assert torch.allclose(ema.weight, 0.9 * before + 0.1 * model.weight.detach())
    assert ema.count.item() == 7.0  # buffers are copied, not averaged


def test_ema_in_the_loop_averages_start_and_end():
    # One step: the EMA starts as a copy of the initial weights w0, then ema = d * w0 + (1-d) * w1.
    w0 = fresh_model().state_dict()
    model, history = run(TrainConfig(**{**SMALL, "iters": 1}, ema_decay=0.75))
    w1, ema = model.state_dict(), history["ema"].state_dict()
    assert not torch.equal(w0["0.weight"], w1["0.weight"])
    for k in w0:
        assert torch.allclose(ema[k], 0.75 * w0[k] + 0.25 * w1[k], atol=1e-7)
    assert run(TrainConfig(**SMALL))[1]["ema"] is None


# --- configuration errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(loss="l3"), "loss must be one of"),
        (dict(schedule="step"), "schedule must be one of"),
        (dict(iters=0), "iters must be an integer >= 1"),
        (dict(iters=2.5), "iters must be an integer >= 1"),
        (dict(batch_size=-1), "batch_size must be an integer >= 1"),
        (dict(lr=0.0), "lr must be > 0"),
        (dict(milestones=(5, 3)), "milestones must be increasing"),
        (dict(milestones=(2000,)), "milestones must be increasing"),
        (dict(ema_decay=1.0), "ema_decay must be None or lie in"),
        (dict(grad_clip=0.0), "grad_clip must be None or positive"),
        (dict(freeze_iters=5), "freeze_iters > 0 needs freeze"),
        (dict(betas=(0.9, 1.0)), "betas must be"),
    ],
)
def test_config_errors(change, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**change)


def test_train_argument_errors(tmp_path):
    cfg = TrainConfig(**SMALL, out_dir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run(cfg, resume=True)
    with pytest.raises(ValueError, match="needs cfg.out_dir"):
        run(TrainConfig(**SMALL), resume=True)
    with pytest.raises(ValueError, match="stop_after must lie"):
        run(cfg, stop_after=7)
    with_generator = script.RandomCrops()
    with_generator.generator = torch.Generator()
    with pytest.raises(ValueError, match="its own torch.Generator"):
        train(fresh_model(), with_generator, cfg)
    with pytest.raises(ValueError, match="lr_mul prefix 'spynet.' matches no parameter"):
        run(replace(cfg, lr_mul=(("spynet.", 0.125),)))
    with pytest.raises(ValueError, match="freeze prefix 'edvr.' matches no parameter"):
        run(replace(cfg, freeze=("edvr.",), freeze_iters=2))


# --- determinism and exact resume -----------------------------------------------------------


def test_same_seed_same_numbers_and_the_seed_matters():
    cfg = TrainConfig(**SMALL)
    model_a, a = run(cfg)
    model_b, b = run(cfg)
    assert a["loss"] == b["loss"]
    assert same_weights(model_a.state_dict(), model_b.state_dict())
    _, c = run(replace(cfg, seed=1))
    assert c["loss"] != a["loss"]  # other batches and other crops
    assert not torch.are_deterministic_algorithms_enabled()  # the caller's setting is restored


def test_resume_is_bitwise_identical(tmp_path):
    cfg = TrainConfig(**SMALL, ema_decay=0.9, grad_clip=1.0, ckpt_every=3)
    whole, h_whole = run(replace(cfg, out_dir=str(tmp_path / "whole")))

    part_cfg = replace(cfg, out_dir=str(tmp_path / "part"))
    _, h_first = run(part_cfg, stop_after=3)
    assert h_first["iter"] == [1, 2, 3]
    # The resumed run starts from other initial weights: everything must come from the file.
    resumed, h_resumed = run(replace(part_cfg, val_every=2), model_seed=1, resume=True)

    assert h_resumed["iter"] == h_whole["iter"] == [1, 2, 3, 4, 5, 6]
    assert h_resumed["loss"] == h_whole["loss"]
    assert h_resumed["lr"] == h_whole["lr"]
    assert same_weights(resumed.state_dict(), whole.state_dict())
    assert same_weights(h_resumed["ema"].state_dict(), h_whole["ema"].state_dict())


def test_checkpoint_loads_with_weights_only(tmp_path):
    cfg = TrainConfig(**SMALL, out_dir=str(tmp_path), ckpt_every=4, ema_decay=0.5)
    model, history = run(cfg)
    state = torch.load(tmp_path / "latest.pth", weights_only=True)
    assert state["iter"] == 6 and state["history"]["loss"] == history["loss"]
    assert same_weights(state["params"], model.state_dict())
    assert same_weights(state["params_ema"], history["ema"].state_dict())
    assert isinstance(state["rng"]["torch"], torch.Tensor)
    assert isinstance(state["rng"]["numpy"], torch.Tensor)
    assert state["config"]["iters"] == 6
    assert (tmp_path / "history.json").exists() and (tmp_path / "config.json").exists()
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_resume_with_a_different_config_is_an_error(tmp_path):
    cfg = TrainConfig(**{**SMALL, "iters": 3}, out_dir=str(tmp_path))
    run(cfg)
    with pytest.raises(ValueError, match=r"iters: saved 3, now 6.*lr schedule spans"):
        run(replace(cfg, iters=6), resume=True)
    with pytest.raises(ValueError, match="lr: saved 0.01, now 0.02"):
        run(replace(cfg, lr=2e-2), resume=True)


# --- the loop learns, and its options do what they say ----------------------------------------


def test_loss_decreases_on_a_learnable_problem():
    cfg = TrainConfig(iters=50, batch_size=8, lr=1e-2, loss="l1", progress=False)
    _, history = run(cfg)
    first, last = history["loss"][0], sum(history["loss"][-5:]) / 5
    assert last < first / 2, (first, last)


def test_validation_forward_hook_and_lr_groups():
    seen, calls = [], []

    def forward(model, batch):
        seen.append(sorted(batch))
        return model(batch["lq"])

    def val_fn(model):
        calls.append(model.training)
        return {"psnr": 30.0 + len(calls)}

    cfg = TrainConfig(**SMALL, val_every=4, lr_mul=(("0.bias", 0.5),))
    _, history = run(cfg, val_fn=val_fn, forward=forward)
    assert seen == [["gt", "lq"]] * 6
    assert calls == [False, False]  # in eval mode, after iterations 4 and 6 (the last)
    assert history["val"] == {"iter": [4, 6], "psnr": [31.0, 32.0]}
    assert history["lr"][0] == 1e-2


def test_the_loop_follows_the_schedule_and_the_lr_multipliers():
    # After milestone 2 the lr drops 1e6-fold, and "0.bias" always runs at lr * 1e-6: Adam moves a
    # parameter by about lr per step, so these stop moving (a loop ignoring them would not).
    cfg = TrainConfig(**SMALL, schedule="multistep", milestones=(2,), gamma=1e-6)
    cfg = replace(cfg, lr_mul=(("0.bias", 1e-6),))
    w0 = fresh_model().state_dict()
    at2, _ = run(cfg, stop_after=2)
    at6, history = run(cfg)
    assert history["lr"] == [1e-2, 1e-2] + [1e-8] * 4
    assert (at2.state_dict()["0.weight"] - w0["0.weight"]).abs().max() > 1e-3
    assert torch.allclose(at6.state_dict()["0.weight"], at2.state_dict()["0.weight"], atol=1e-7)
    assert torch.allclose(at6.state_dict()["0.bias"], w0["0.bias"], atol=1e-7)


def test_resume_is_identical_with_workers_and_dropout(tmp_path):
    # With worker processes the main process's RNG is not reseeded per sample, so dropout draws
    # from the RNG state train() saved in the checkpoint and restored on resume.
    def model_with_dropout(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Dropout(0.5), script.tiny_sr())

    cfg = TrainConfig(**{**SMALL, "iters": 4}, num_workers=1, out_dir=str(tmp_path / "whole"))
    whole = train(model_with_dropout(0), script.RandomCrops(), cfg)
    part = replace(cfg, out_dir=str(tmp_path / "part"))
    train(model_with_dropout(0), script.RandomCrops(), part, stop_after=2)
    resumed = train(model_with_dropout(1), script.RandomCrops(), part, resume=True)
    assert resumed["loss"] == whole["loss"]


def test_freeze_keeps_parameters_for_freeze_iters():
    cfg = TrainConfig(**SMALL, freeze=("0.bias",), freeze_iters=3)
    w0 = fresh_model().state_dict()
    model, _ = run(replace(cfg, iters=6), stop_after=3)
    assert torch.equal(model.state_dict()["0.bias"], w0["0.bias"])  # frozen
    assert not torch.equal(model.state_dict()["0.weight"], w0["0.weight"])  # trained
    model, _ = run(replace(cfg, iters=6))
    assert not torch.equal(model.state_dict()["0.bias"], w0["0.bias"])  # trained after step 3


class TinyClips(torch.utils.data.Dataset):
    """Two random 3-frame 16x16 LR clips; "gt" is their nearest x4 upsample."""

    def __len__(self) -> int:
        return 2

    def __getitem__(self, index: int) -> dict:
        lq = torch.rand(3, 3, 16, 16)  # (t, 3, h, w)
        return {"lq": lq, "gt": torch.nn.functional.interpolate(lq, scale_factor=4)}


def test_basicvsr_recipe_with_a_real_arch(tmp_path):
    # SpyNet at lr x0.125 and frozen for the first iteration; the checkpoint is an srlab one.
    torch.manual_seed(0)
    model = build("basicvsr", num_feat=8, num_block=1)
    w0 = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(
        iters=2, batch_size=1, lr=1e-3, loss="charbonnier", ema_decay=0.9, progress=False,
        lr_mul=(("spynet.", 0.125),), freeze=("spynet.",), freeze_iters=1, out_dir=str(tmp_path),
    )  # fmt: skip
    train(model, TinyClips(), cfg, stop_after=1)
    spynet = [k for k in w0 if k.startswith("spynet.")]
    assert all(torch.equal(model.state_dict()[k], w0[k]) for k in spynet)
    assert not torch.equal(model.state_dict()["conv_last.weight"], w0["conv_last.weight"])
    history = train(model, TinyClips(), cfg, resume=True)
    assert not all(torch.equal(model.state_dict()[k], w0[k]) for k in spynet)
    state = torch.load(tmp_path / "latest.pth", weights_only=True)
    assert [g["lr_mul"] for g in state["optimizer"]["param_groups"]] == [1.0, 0.125]
    # srlab.checkpoints reads the file and prefers the EMA weights, as for BasicSR's files.
    loaded = checkpoints.load_model(tmp_path / "latest.pth")
    assert same_weights(loaded.state_dict(), history["ema"].state_dict())


def test_batches_cover_each_epoch_and_shard_over_processes():
    full = T.SeededBatches(n=10, batch_size=4, seed=0, start=0, stop=5)
    samples = [pair for batch in full for pair in batch]  # 20 samples = 2 epochs
    assert sorted(i for i, _ in samples[:10]) == list(range(10))
    assert sorted(i for i, _ in samples[10:]) == list(range(10))
    assert [i for i, _ in samples[:10]] != [i for i, _ in samples[10:]]  # reshuffled
    ranks = [T.SeededBatches(10, 4, 0, 0, 5, rank=r, world_size=2) for r in (0, 1)]
    assert [a + b for a, b in zip(*ranks, strict=True)] == list(full)
    later = T.SeededBatches(10, 4, 0, start=3, stop=5)  # a resumed run: no state needed
    assert list(later) == list(full)[3:]
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        T.SeededBatches(10, 5, 0, 0, 5, rank=0, world_size=2)


# --- DistributedDataParallel: 2 CPU processes under torchrun equal 1 process ----------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_two_processes_equal_one_process(tmp_path):
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master_addr=127.0.0.1", f"--master_port={free_port()}",
        str(HERE / "train_ddp_script.py"), str(tmp_path / "ddp"),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / f"ddp/rank{r}.pth", weights_only=True) for r in (0, 1))
    assert rank0["loss"] == rank1["loss"]
    assert same_weights(rank0["params"], rank1["params"])
    assert same_weights(rank0["ema"], rank1["ema"])
    assert torch.load(tmp_path / "ddp" / "latest.pth", weights_only=True)["iter"] == 4

    # One process on the whole batch of 4: DDP's averaged gradients give the same numbers, up to
    # float rounding (the sums run in another order).
    single = script.run(str(tmp_path / "single"))
    assert rank0["loss"] == pytest.approx(single["loss"], abs=1e-6)
    for k, v in single["params"].items():
        assert torch.allclose(rank0["params"][k], v, atol=1e-6), k
        assert torch.allclose(rank0["ema"][k], single["ema"][k], atol=1e-6), k


def test_seeded_samples_leave_the_callers_generators_as_they_were():
    import random

    import numpy as np

    from srlab.train import SeededSamples

    class Draws(torch.utils.data.Dataset):
        def __len__(self):
            return 1

        def __getitem__(self, index):
            return (random.random(), float(np.random.rand()), float(torch.rand(())))

    samples = SeededSamples(Draws())
    first = samples[0, 7]
    random.seed(2), np.random.seed(2), torch.manual_seed(2)  # the caller's state must not matter
    again, other = samples[0, 7], samples[0, 8]
    for i in range(3):  # each of the three generators is seeded by the sample's seed alone
        assert first[i] == again[i] != other[i], i
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    expected = (random.random(), float(np.random.rand()), float(torch.rand(())))
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    samples[0, 7]  # with num_workers=0 this runs in the training loop's own process
    assert (random.random(), float(np.random.rand()), float(torch.rand(()))) == expected


def test_the_seeding_machinery_is_importable_from_train_too():
    from srlab import seeding

    for name in ("SeededBatches", "SeededSamples"):
        assert getattr(T, name) is getattr(seeding, name)


def test_spynet_finetuning_is_basicvsrs_schedule():
    assert T.spynet_finetuning(300_000, finetune=True) == {
        "lr_mul": (("spynet.", 0.125),), "freeze": ("spynet.",), "freeze_iters": 5000,
    }  # fmt: skip
    assert T.spynet_finetuning(400, finetune=True)["freeze_iters"] == 40  # a tenth of short runs
    assert T.spynet_finetuning(5, finetune=True) == {
        "lr_mul": (("spynet.", 0.125),), "freeze": (), "freeze_iters": 0,
    }  # fmt: skip
    assert T.spynet_finetuning(300_000, finetune=False) == {
        "lr_mul": (), "freeze": (), "freeze_iters": 0,
    }  # fmt: skip
    TrainConfig(iters=400, **T.spynet_finetuning(400, finetune=True))  # a valid config


def test_forward_with_flows_hands_the_batchs_flows_to_the_model():
    seen = {}

    def model(lq, flows):
        seen["lq"], seen["flows"] = lq, flows
        return lq

    batch = {"lq": torch.zeros(1), "flow_forward": torch.ones(1), "flow_backward": torch.ones(2)}
    assert T.forward_with_flows(model, batch) is batch["lq"]
    assert seen["flows"] == (batch["flow_forward"], batch["flow_backward"])
