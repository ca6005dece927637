"""Where the long jobs run, and in which precision: one rule for every notebook and training loop.

    device = choose_device(p.device)          # "": the GPU when torch sees one, else the CPU
    precision = choose_precision(p.precision, device)   # "": bf16/fp16 on a GPU, fp32 on the CPU
    print(f"training on {describe_device(device)}, {precision}")

The rule, so that a notebook's paper profile uses a GPU without edits and its quick profile gives
the same numbers on every CPU:

- device "" (the default) is CUDA when `torch.cuda.is_available()`, under torchrun the GPU of this
  process (LOCAL_RANK), else the CPU. "cpu" forces the CPU; "cuda" or "cuda:<i>" ask for a GPU and
  fail, by name, when there is none. Models, inputs and the flow network go to this one device;
  CPU timings stay on the CPU (srlab.complexity measures latency there).
- precision "" is automatic mixed precision on a GPU (bf16 where the GPU has it, which needs no
  loss scaling; fp16 with a gradient scaler on older GPUs) and fp32 on the CPU: bf16 on a CPU is
  fast only with native bf16 instructions (AVX512-BF16 / AMX, see the efficiency notebook), and a
  CPU default that depends on the CPU would make the quick profiles' numbers differ between
  machines. "bf16" on such a CPU may be asked for explicitly; "fp16" is for GPUs only.

Nothing here changes a global setting: the functions only look at what torch reports."""

from __future__ import annotations

import os

import torch

PRECISIONS = ("fp32", "bf16", "fp16")


def choose_device(device: str = "") -> torch.device:
    """The device of the rule above. `device`: "" (automatic), "cpu", "cuda" or "cuda:<index>"."""
    if not isinstance(device, str):
        raise TypeError(f"device must be a string ('', 'cpu', 'cuda', 'cuda:1'), got {device!r}")
    if device == "":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    wrong = f"device must be '', 'cpu', 'cuda' or 'cuda:<index>', got {device!r}"
    try:
        chosen = torch.device(device)
    except RuntimeError as err:
        raise ValueError(wrong) from err
    if chosen.type not in ("cpu", "cuda"):
        raise ValueError(wrong)
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but torch sees no CUDA GPU: use '' or 'cpu'")
        index = 0 if chosen.index is None else chosen.index
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r} but torch sees {torch.cuda.device_count()} GPU(s) "
                f"(indices 0 to {torch.cuda.device_count() - 1})"
            )
        chosen = torch.device("cuda", index)
    return chosen


def describe_device(device: torch.device) -> str:
    """What a results file records: "cpu" or "cuda:0 (<the GPU's name>)"."""
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def choose_precision(precision: str, device: torch.device) -> str:
    """The training precision of the rule above: "fp32", "bf16" or "fp16"."""
    if precision not in ("", *PRECISIONS):
        raise ValueError(f"precision must be '', 'fp32', 'bf16' or 'fp16', got {precision!r}")
    if device.type == "cuda":
        if precision == "":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            raise ValueError(
                f"precision='bf16' but {describe_device(device)} has no bf16: use fp16"
            )
        return precision
    if precision == "fp16":
        raise ValueError("precision='fp16' needs a GPU (it trains with a gradient scaler there)")
    if precision == "bf16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        raise ValueError(
            "precision='bf16' on a CPU without native bf16 instructions would be emulated and "
            "slower than fp32: use '' or 'fp32'"
        )
    return precision or "fp32"


def synchronize(device: torch.device) -> None:
    """Wait until the device has finished its queued work: CUDA runs kernels asynchronously, so a
    timer read without this measures the launches, not the work. A no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """The context that runs a forward pass in `precision` ("fp32": an autocast that is off)."""
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def environment(device: torch.device, precision: str) -> dict:
    """Provenance: where the numbers were computed, for a results file."""
    return {
        "device": describe_device(device),
        "precision": precision,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
