"""What every notebook does the same way: read its parameters, pick a profile, record provenance.

A notebook's `parameters` cell holds annotated literals (`iters: int | None = None  # help`);
papermill injects `-p name value` overrides as a cell right after it. The first code cell after
that calls `resolve_parameters(globals(), PROFILES)`, which
- fails on a parameter the notebook does not declare (papermill itself only warns): any name
  papermill's injected cell sets that the parameters cell did not annotate (in any case, with or
  without a leading underscore), and any lower-case global holding a literal that it did not
  annotate,
- checks each value against its annotation (an int is accepted where a str is expected:
  papermill passes `-p seeds 0` as the int 0),
- makes the folders of `*_dir` parameters independent of where the kernel runs: a relative path
  is relative to the notebooks folder, where the defaults ("../figures", "../results") point
  from, so papermill from the project root, from notebooks/ or JupyterLab all write in the project,
- fills every parameter left at None from the chosen profile (smoke | quick | paper).
"""

from __future__ import annotations

import ast
import datetime as _dt
import os
import subprocess
import sys
import time
import types
import typing
from pathlib import Path
from typing import Any

import srlab

# Names IPython puts in every user namespace; everything else that holds a literal was a parameter.
_IPYTHON_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}
_LITERAL_TYPES = (str, int, float, bool, list, dict, tuple, type(None))
# The folder the notebooks live in, which their `*_dir` defaults are written relative to. An
# installed (not editable) srlab has none: relative paths then stay relative to the kernel's cwd.
NOTEBOOKS_DIR = Path(srlab.__file__).resolve().parents[1] / "notebooks"


def _allowed_types(annotation) -> tuple[type, ...]:
    """`int | None` -> (int, NoneType). A float also accepts an int (`-p lr 1` arrives as 1)."""
    union = isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
    allowed = typing.get_args(annotation) if union else (annotation,)
    if float in allowed:
        allowed += (int,)
    return allowed


def resolve_parameters(namespace: dict[str, Any], profiles: dict[str, dict[str, Any]]):
    """The notebook's parameters, checked and completed from its profile, as a namespace.

    namespace: the notebook's `globals()` right after the parameters (and injected) cells.
    profiles: profile name -> values for the parameters a profile decides (those left at None).
    """
    declared = namespace.get("__annotations__", {})
    if "profile" not in declared:
        raise ValueError("the parameters cell must declare `profile: str = ...`")
    unknown = {k for k in _injected_names(namespace) if k not in declared}
    unknown |= {
        k
        for k, v in namespace.items()
        if not k.startswith("_")
        and not k.isupper()  # constants such as PROFILES, defined in the notebook itself
        and k not in declared
        and k not in _IPYTHON_NAMES
        and isinstance(v, _LITERAL_TYPES)
    }
    if unknown:
        hints = [
            f"{k!r} -> {d!r}?" for k in sorted(unknown) for d in declared
            if k.strip("_").lower() == d.lower()
        ]  # fmt: skip
        raise ValueError(
            f"unknown notebook parameter(s) {sorted(unknown)}"
            + (f" (did you mean {', '.join(hints)})" if hints else "")
            + f"; this notebook takes {sorted(declared)}"
        )
    values = {name: namespace[name] for name in declared}
    for name, annotation in declared.items():
        allowed = _allowed_types(annotation)
        value = values[name]
        if str in allowed and int not in allowed and type(value) is int:
            value = values[name] = str(value)  # `-p seeds 0`: a list of one seed
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            raise TypeError(
                f"parameter {name!r} must be {annotation}, got {value!r} ({type(value).__name__})"
            )
        if name.endswith("_dir") and isinstance(value, str) and value:
            values[name] = project_path(value)
    profile = values["profile"]
    if profile not in profiles:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(profiles)}")
    for name, value in profiles[profile].items():
        if name not in declared:
            raise ValueError(f"profile {profile!r} sets {name!r}, which is not a parameter")
        if values[name] is None:
            values[name] = value
    return types.SimpleNamespace(**values)


def project_path(path: str) -> str:
    """A `*_dir` parameter's folder, as an absolute path: a relative one is taken relative to the
    notebooks folder (where "../figures" means the project's figures/), not to the kernel's cwd,
    which depends on how the notebook was started."""
    if os.path.isabs(path) or not NOTEBOOKS_DIR.is_dir():
        return path
    return os.path.normpath(NOTEBOOKS_DIR / path)


def _injected_names(namespace: dict[str, Any]) -> list[str]:
    """The names papermill's injected cell assigns, read from IPython's input history (`In`):
    papermill starts that cell with the comment "# Parameters". [] when there is none."""
    for source in reversed(namespace.get("In", [])):
        if isinstance(source, str) and source.startswith("# Parameters\n"):
            return [
                target.id
                for node in ast.parse(source).body
                if isinstance(node, ast.Assign)
                for target in node.targets
                if isinstance(target, ast.Name)
            ]
    return []


def parse_seeds(seeds: str) -> list[int]:
    """ "0,1,2" -> [0, 1, 2]. Seeds are a string parameter so papermill passes them as one value."""
    try:
        out = [int(s) for s in str(seeds).split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"seeds must be comma-separated integers, got {seeds!r}") from None
    if not out:
        raise ValueError("seeds is empty")
    return out


def git_commit(repo: str | Path | None = None) -> str:
    """The checkout's commit (with "+dirty" if it has uncommitted changes), or "unknown"."""
    repo = Path(repo) if repo else Path(srlab.__file__).resolve().parents[1]

    def run(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    try:
        commit = run("rev-parse", "--short=12", "HEAD")
        return commit + ("+dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Provenance:
    """Start a clock when created; `record()` gives what a results file needs to be trusted:
    with `device` and `precision` (srlab.device's choice), where the numbers were computed."""

    def __init__(self, params: types.SimpleNamespace, *, device=None, precision: str | None = None):
        self.params = dict(vars(params))
        self.device, self.precision = device, precision
        self.started = time.perf_counter()
        self.date = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.load_at_start = _load_average()

    def record(self) -> dict[str, Any]:
        import torch

        from srlab.device import environment

        return {
            "parameters": self.params,
            "srlab_version": srlab.__version__,
            "git_commit": git_commit(),
            "torch_version": torch.__version__,
            "threads": torch.get_num_threads(),
            "date_utc": self.date,
            "wall_time_s": round(time.perf_counter() - self.started, 1),
            # Timings are only comparable on an idle machine: record how busy this one was.
            "cpu_count": os.cpu_count(),
            "load_average_1min": {"start": self.load_at_start, "end": _load_average()},
            **(environment(self.device, self.precision) if self.device is not None else {}),
        }


def _load_average() -> float | None:
    """The 1-minute load average (processes wanting a CPU), where the OS reports one."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def main(argv: list[str] | None = None) -> int:
    """A notebook on several processes, for the paper profiles:

        torchrun --nproc_per_node 8 -m srlab.notebook notebooks/basicvsr_ablation.ipynb \\
            -p profile paper -p data_root /data/REDS

    Each process torchrun starts executes the whole notebook with papermill; its kernel inherits
    torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, ...), so every srlab.train.train() call
    in it trains with DistributedDataParallel (nccl on GPUs, gloo on CPUs), each process on its
    own GPU (srlab.device.choose_device) and its share of the batch; all processes evaluate the
    same models and so compute the same numbers. Rank 0 writes the executed notebook to
    out/<name>.ipynb and the figures and results where the notebook's parameters say; the other
    ranks write theirs under out/torchrun/rank<r>/, which can be deleted. Other arguments go to
    papermill as they are (-p name value). Returns papermill's exit code."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0].startswith("-") or not args[0].endswith(".ipynb"):
        print(main.__doc__, file=sys.stderr)
        return 2
    notebook = Path(args[0]).resolve()
    if not notebook.is_file():
        print(f"no notebook {notebook}", file=sys.stderr)
        return 2
    rank, world_size = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    out = Path("out").resolve()
    command = [sys.executable, "-m", "papermill", str(notebook)]
    if rank == 0:
        output = out / notebook.name
        print(f"{notebook.name} on {world_size} process(es); rank 0 writes {output}, its figures "
              f"and results; ranks 1+ write under {out / 'torchrun'}")  # fmt: skip
        command += [str(output), *args[1:]]
    else:  # the same run, written aside: the last -p of a name is the one papermill keeps
        output = out / "torchrun" / f"rank{rank}" / notebook.name
        side = str(output.parent)
        command += [str(output), *args[1:], "-p", "out_dir", side, "-p", "results_dir", side]
        command += ["--no-progress-bar"]
    output.parent.mkdir(parents=True, exist_ok=True)
    command += ["-k", "python3", "--cwd", str(notebook.parent)]
    # The kernels, not this process, join the process group, at every train() call and at their
    # own pace (rank 0 also draws the figures). torchrun's own store proved fragile for such
    # late grandchildren (a rank arriving 20 s after the others failed to connect), so rank 0's
    # kernel hosts a store of its own, on the port after torchrun's, that the others wait for.
    env = {**os.environ, "TORCHELASTIC_USE_AGENT_STORE": "False"}
    if "MASTER_PORT" in os.environ:
        env["MASTER_PORT"] = str(int(os.environ["MASTER_PORT"]) + 1)
    return subprocess.run(command, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
