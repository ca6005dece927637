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

Independent CPU jobs (the seeds and variants of an ablation) can run side by side in forked
processes: `run_jobs` (below), whose numbers do not depend on how many processes run them.

Nothing here changes a global setting: the functions only look at what torch reports, and
num_threads/run_jobs restore the caller's thread count."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import torch
from tqdm.auto import tqdm

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


@contextlib.contextmanager
def num_threads(threads: int):
    """torch.set_num_threads(threads) inside the block, the caller's count restored after."""
    caller = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(caller)


def fork_available(device: torch.device) -> bool:
    """Whether run_jobs can fork worker processes: on Linux, for CPU work (a CUDA context does
    not survive a fork; macOS's system libraries are not fork-safe; Windows has no fork)."""
    return sys.platform == "linux" and device.type == "cpu"


# The job list of the run_jobs call in progress: forked workers inherit it, so only an index goes
# to them, and the jobs may be closures over anything the caller defined (a notebook's data).
_JOBS: tuple[Callable[[Any], Any], Sequence] | None = None


def _run_job(index: int) -> bytes:
    fn, jobs = _JOBS
    # Plain pickle, sent as bytes: multiprocessing's own pickler would hand returned tensors over
    # in shared memory (/dev/shm, 64 MB in a default Docker container).
    return pickle.dumps(fn(jobs[index]), protocol=pickle.HIGHEST_PROTOCOL)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued jobs and end the running ones now (after a job's error or Ctrl-C),
    rather than wait for every job already handed out."""
    pool.shutdown(wait=False, cancel_futures=True)
    for process in list((getattr(pool, "_processes", None) or {}).values()):  # CPython's pool
        process.terminate()
        process.join()


def run_jobs(
    fn: Callable[[Any], Any],
    jobs: Sequence,
    *,
    workers: int = 1,
    threads: int = 1,
    device: torch.device | str = "cpu",
    desc: str = "jobs",
    progress: bool = True,
) -> list:
    """[fn(job) for job in jobs], computed by `workers` processes side by side, each job on
    `threads` torch threads: the same numbers for any number of workers, as long as every job
    seeds its own randomness (torch.manual_seed, train()'s cfg.seed) and leaves no state behind
    for the next: jobs go to the workers in no fixed order.

    Why: a tiny model's training step is mostly per-operation overhead that a second thread
    barely shortens (BasicVSR with 16 channels, on a 2-core machine: 59 ms a step on 1 thread,
    50 ms on 2), while two 1-thread processes take two steps in about 60 ms: 1.65x the
    throughput (benchmarks/parallel_jobs.py measures it on the machine at hand).

    workers > 1 forks this process (Linux, CPU: fork_available), so `fn` and the jobs need not be
    picklable, only what fn returns (tensors, arrays, numbers: return a model's state_dict, not
    the model). Forked workers run on 1 thread only: GNU OpenMP (torch's thread pool on Linux)
    is not fork-safe, and a worker with more threads hangs once this process has used its own
    pool; threads > 1 with workers > 1 is refused. Elsewhere the jobs run here, one after the
    other, with the same numbers. A job's exception is raised here as soon as it happens, with
    the job's own traceback attached, and the other jobs are stopped (so is Ctrl-C); a worker
    that dies (out of memory) raises BrokenProcessPool. fn must not change state the caller
    relies on afterwards: in a worker the change is lost."""
    global _JOBS
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    jobs = list(jobs)
    forking = workers > 1 and len(jobs) > 1 and fork_available(torch.device(device))
    if forking and threads > 1:
        raise ValueError(
            f"threads={threads} with workers={workers}: forked workers run on 1 torch thread "
            "only (GNU OpenMP is not fork-safe; they would hang). Use threads=1, or workers=1 "
            "for more threads per job"
        )
    bar = tqdm(total=len(jobs), desc=desc, disable=not progress)
    if not forking:
        try:
            results = []
            with num_threads(threads):
                for job in jobs:
                    results.append(fn(job))
                    bar.update()
            return results
        finally:
            bar.close()
    previous, _JOBS = _JOBS, (fn, jobs)  # a job may call run_jobs itself
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns on every fork of a process with threads (a Jupyter kernel
            # has several): the workers touch none of their locks, they only compute and return.
            warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks")
            pool = ProcessPoolExecutor(
                min(workers, len(jobs)), mp_context=multiprocessing.get_context("fork"),
                initializer=torch.set_num_threads, initargs=(threads,),
            )  # fmt: skip
            try:
                futures = [pool.submit(_run_job, i) for i in range(len(jobs))]
                for future in as_completed(futures):
                    future.result()  # a job's exception, raised here at once
                    bar.update()
            except BaseException:
                _stop(pool)
                raise
            pool.shutdown()
        return [pickle.loads(future.result()) for future in futures]
    finally:
        _JOBS = previous
        bar.close()


def cpu_time() -> float:
    """CPU seconds used so far by this process and by its children that have ended (run_jobs'
    workers, once their pool is closed): time.process_time() alone misses the workers' work."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
