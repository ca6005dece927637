"""Tests for srlab.device: the one device and precision rule. CUDA is absent on this machine, so
its presence is simulated by substituting torch's checks (monkeypatch); training in bf16 and fp16
(with its gradient scaler) runs on the CPU, where torch supports both under autocast.
run_jobs forks worker processes on Linux (its first test is skipped elsewhere)."""

from __future__ import annotations

import os
import time
from dataclasses import replace

import pytest
import torch
from test_train import SMALL, fresh_model, same_weights, script
from torch import nn

from srlab import device as D
from srlab.train import TrainConfig, train


def fake_gpus(monkeypatch, count: int = 2, bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU 80GB")


def test_the_cpu_when_torch_sees_no_gpu(monkeypatch):
    fake_gpus(monkeypatch, count=0)
    assert D.choose_device("") == torch.device("cpu")
    assert D.choose_device("cpu") == torch.device("cpu")
    assert D.describe_device(torch.device("cpu")) == "cpu"
    with pytest.raises(ValueError, match="device='cuda' but torch sees no CUDA GPU"):
        D.choose_device("cuda")


def test_the_gpu_when_there_is_one_and_this_processs_gpu_under_torchrun(monkeypatch):
    fake_gpus(monkeypatch, count=2)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    assert D.choose_device("") == torch.device("cuda", 0)
    assert D.choose_device("cuda") == torch.device("cuda", 0)
    assert D.choose_device("cuda:1") == torch.device("cuda", 1)
    assert D.choose_device("cpu") == torch.device("cpu")  # "cpu" forces the CPU
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert D.choose_device("") == torch.device("cuda", 1)
    assert D.describe_device(torch.device("cuda", 1)) == "cuda:1 (Fake GPU 80GB)"
    with pytest.raises(ValueError, match=r"torch sees 2 GPU\(s\) \(indices 0 to 1\)"):
        D.choose_device("cuda:2")


@pytest.mark.parametrize("bad", ["gpu", "tpu", "mps", "cuda:x"])
def test_unknown_devices_are_refused_by_name(bad):
    with pytest.raises(ValueError, match=f"device must be .*got {bad!r}"):
        D.choose_device(bad)
    with pytest.raises(TypeError, match="device must be a string"):
        D.choose_device(None)


def test_precision_rule_on_gpus(monkeypatch):
    fake_gpus(monkeypatch, bf16=True)
    gpu = torch.device("cuda", 0)
    assert D.choose_precision("", gpu) == "bf16"
    assert D.choose_precision("fp16", gpu) == "fp16"
    assert D.choose_precision("fp32", gpu) == "fp32"
    fake_gpus(monkeypatch, bf16=False)  # e.g. a V100: fp16 with a gradient scaler
    assert D.choose_precision("", gpu) == "fp16"
    with pytest.raises(ValueError, match="has no bf16: use fp16"):
        D.choose_precision("bf16", gpu)


def test_precision_rule_on_the_cpu(monkeypatch):
    cpu = torch.device("cpu")
    assert D.choose_precision("", cpu) == "fp32"  # whatever the CPU: same numbers everywhere
    with pytest.raises(ValueError, match="fp16' needs a GPU"):
        D.choose_precision("fp16", cpu)
    with pytest.raises(ValueError, match="precision must be"):
        D.choose_precision("float16", cpu)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    assert D.choose_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    with pytest.raises(ValueError, match="without native bf16 instructions"):
        D.choose_precision("bf16", cpu)


def test_environment_is_what_provenance_records(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "8")
    assert D.environment(torch.device("cpu"), "fp32") == {
        "device": "cpu", "precision": "fp32", "world_size": 8,
    }  # fmt: skip


def test_training_precision_is_checked_by_name():
    with pytest.raises(ValueError, match="precision must be one of"):
        TrainConfig(precision="half")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_float32_weights_and_changes_the_numbers(precision):
    cfg = TrainConfig(**SMALL)
    plain = fresh_model()
    h_plain = train(plain, script.RandomCrops(), cfg)
    mixed = fresh_model()
    h_mixed = train(mixed, script.RandomCrops(), replace(cfg, precision=precision))
    assert all(v.dtype == torch.float32 for v in mixed.state_dict().values())
    assert all(torch.isfinite(torch.tensor(h_mixed["loss"])))
    # autocast really ran the forward pass in low precision: the losses differ from float32's,
    # by about its rounding (bf16: 8 bits of mantissa, fp16: 11), not by a broken run
    assert h_mixed["loss"] != h_plain["loss"]
    assert h_mixed["loss"] == pytest.approx(h_plain["loss"], rel=0.05)


def test_fp16_resume_restores_the_loss_scale_bitwise(tmp_path):
    cfg = TrainConfig(**SMALL, precision="fp16", ckpt_every=3)
    whole = fresh_model()
    h_whole = train(whole, script.RandomCrops(), replace(cfg, out_dir=str(tmp_path / "whole")))
    part = replace(cfg, out_dir=str(tmp_path / "part"))
    train(fresh_model(), script.RandomCrops(), part, stop_after=3)
    state = torch.load(tmp_path / "part" / "latest.pth", weights_only=True)
    assert state["scaler"]["scale"] > 0  # the scaler's state is in the checkpoint
    resumed = fresh_model(1)
    h_resumed = train(resumed, script.RandomCrops(), part, resume=True)
    assert h_resumed["loss"] == h_whole["loss"]
    assert same_weights(resumed.state_dict(), whole.state_dict())


def test_checkpoints_from_before_the_precision_setting_resume_as_fp32(tmp_path):
    cfg = TrainConfig(**SMALL, out_dir=str(tmp_path), ckpt_every=3)
    train(fresh_model(), script.RandomCrops(), cfg, stop_after=3)
    state = torch.load(tmp_path / "latest.pth", weights_only=True)
    del state["config"]["precision"]  # as written by srlab before it had the setting
    torch.save(state, tmp_path / "latest.pth")
    train(fresh_model(), script.RandomCrops(), cfg, resume=True)  # no "config changed" error


def test_synchronize_waits_for_cuda_only(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append(device))
    D.synchronize(torch.device("cpu"))
    assert calls == []
    D.synchronize(torch.device("cuda", 1))
    assert calls == [torch.device("cuda", 1)]


def _train_tiny(seed: int) -> dict:
    """A job of the kind the video notebooks run side by side: train a small model, return its
    weights and the thread count it ran on."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 3, padding=1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x = torch.rand(2, 3, 24, 24)
    for _ in range(5):
        loss = (model(x) - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"state": model.state_dict(), "threads": torch.get_num_threads(), "pid": os.getpid()}


FORKS = pytest.mark.skipif(not D.fork_available(torch.device("cpu")), reason="forks on Linux only")


@FORKS
def test_run_jobs_gives_the_same_weights_for_any_number_of_workers():
    with D.num_threads(3):  # a count of the caller's own, to see it restored
        serial = D.run_jobs(_train_tiny, [0, 1, 2], workers=1, threads=1, progress=False)
        assert torch.get_num_threads() == 3
        forked = D.run_jobs(_train_tiny, [0, 1, 2], workers=2, threads=1, progress=False)
        assert torch.get_num_threads() == 3
    assert {r["pid"] for r in serial} == {os.getpid()}
    assert os.getpid() not in {r["pid"] for r in forked}  # really in other processes
    assert [r["threads"] for r in serial + forked] == [1] * 6
    for a, b in zip(serial, forked, strict=True):
        for key in a["state"]:
            assert torch.equal(a["state"][key], b["state"][key]), key
            assert not b["state"][key].is_shared()  # not left in /dev/shm
    assert not torch.equal(serial[0]["state"]["0.weight"], serial[1]["state"]["0.weight"])


@FORKS
def test_run_jobs_sees_closures_and_raises_a_jobs_error_at_once():
    offset = torch.arange(3.0)  # a closure, not picklable by reference: forking passes it
    out = D.run_jobs(lambda k: (float(offset[k] * 10), os.getpid()), [2, 0, 1], workers=2,
                     progress=False)  # fmt: skip
    assert [v for v, _ in out] == [20.0, 0.0, 10.0]  # in the jobs' order
    assert os.getpid() not in {pid for _, pid in out}

    def fails(k):
        if k == 0:
            raise ValueError(f"job {k} refused its input")
        time.sleep(2)
        return k

    start = time.perf_counter()
    with pytest.raises(ValueError, match="job 0 refused its input"):
        D.run_jobs(fails, range(6), workers=2, progress=False)
    # not after the other five jobs (5 x 2 s on 2 workers), but as soon as job 0 failed
    assert time.perf_counter() - start < 4


@FORKS
def test_run_jobs_refuses_threads_that_forked_workers_cannot_use():
    torch.nn.functional.conv2d(torch.rand(1, 8, 64, 64), torch.rand(8, 8, 3, 3))  # the pool, used
    with pytest.raises(ValueError, match="forked workers run on 1 torch thread only"):
        D.run_jobs(abs, [1, 2], workers=2, threads=2, progress=False)
    assert D.run_jobs(abs, [-1, -2], workers=1, threads=2, progress=False) == [1, 2]
    with pytest.raises(ValueError, match="workers must be a positive integer"):
        D.run_jobs(abs, [0], workers=0)


@FORKS
def test_run_jobs_inside_a_job():
    def nested(k):
        return sum(D.run_jobs(lambda j: j * k, [1, 2, 3], workers=2, progress=False))

    assert D.run_jobs(nested, [1, 10, 100], workers=2, progress=False) == [6, 60, 600]
