"""Load and save model weights: BasicSR checkpoints in, srlab checkpoints out.

A BasicSR checkpoint is a dict {"params": state_dict} and/or {"params_ema": state_dict}; keys may
carry DataParallel's "module." prefix. An srlab checkpoint is {"params": state_dict,
"srlab": {"arch", "kwargs", "version"}, ...extra}, so srlab.archs.load_model can rebuild the model
by name. Files are always read with torch.load(weights_only=True): tensors and plain containers
only, never arbitrary pickled objects (which could run code on load).

`read` is the one way srlab reads a checkpoint file: load, load_model, the architectures'
pretrained parts (SpyNet, IconVSR's EDVR) and train's resume all go through it, so a missing,
empty, truncated or unsafe file fails the same way everywhere, with the file named and what to do.
This module knows nothing of the arch registry (the archs import it); load_model, which builds a
model by name, sits beside build in srlab.archs."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

import srlab
from srlab.io import torch_save

PathLike = str | os.PathLike


class CheckpointMismatchError(ValueError):
    """The checkpoint's state_dict does not fit the model. The lists are kept as attributes:
    missing (keys the model has and the checkpoint lacks), unexpected (the reverse) and
    mismatched ((key, checkpoint shape, model shape) triples)."""

    def __init__(
        self,
        model_name: str,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
        source: str = "checkpoint",
        hint: str | None = None,
    ):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        lines = [
            f"{source} does not match {model_name}: {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(mismatched)} with a different shape"
        ]
        if missing:
            lines.append(f"  missing ({len(missing)}): {_first(missing)}")
        if unexpected:
            lines.append(f"  unexpected ({len(unexpected)}): {_first(unexpected)}")
        if mismatched:
            shapes = [f"{k} checkpoint {tuple(a)} vs model {tuple(b)}" for k, a, b in mismatched]
            lines.append(f"  shape mismatch ({len(mismatched)}): {_first(shapes)}")
        if hint:
            lines.append(f"  {hint}")
        super().__init__("\n".join(lines))


def _first(items: list[str], n: int = 10) -> str:
    """The first n items, comma-separated, then how many more there are."""
    shown = ", ".join(items[:n])
    return shown + (f", ... and {len(items) - n} more" if len(items) > n else "")


def read(path: PathLike) -> dict:
    """torch.load(path) onto the CPU with weights_only=True, the one reader of checkpoint files.

    Every failure names the file and says what to do: FileNotFoundError for a missing file,
    pickle.UnpicklingError for a file holding objects other than tensors and plain containers
    (never unpickled: that could run arbitrary code), ValueError for an empty, truncated or
    foreign file, or one that holds something other than a dict."""
    if isinstance(path, bool) or not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a file path (str or Path), got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"checkpoint {path} {what}")
    if path.stat().st_size == 0:
        raise ValueError(
            f"checkpoint {path} is empty (0 bytes): a write that never finished, or a failed copy. "
            "Write it again (or copy it again from its source)."
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" not in str(err).lower():  # a damaged pickle, not an unsafe one
            raise _unreadable(path, err) from err
        # torch's own text suggests weights_only=False; we name only the object it stopped at.
        found = [line.strip() for line in str(err).splitlines() if "Unsupported" in line]
        raise pickle.UnpicklingError(
            f"refusing to load {path}: it holds objects other than tensors and plain containers "
            f"(e.g. a whole pickled model or optimizer), and unpickling those could run arbitrary "
            f"code (srlab reads with weights_only=True). If you made the file and trust it, save "
            f"its weights alone, torch.save(model.state_dict(), path), and load that."
            + (f"\n{found[0]}" if found else "")
        ) from err
    except (EOFError, RuntimeError, KeyError, OSError) as err:  # truncated or not a torch file
        raise _unreadable(path, err) from err
    if not isinstance(checkpoint, Mapping):
        raise ValueError(
            f"checkpoint {path} holds a {type(checkpoint).__name__}, not a dict (a state_dict, or "
            "BasicSR's {'params': state_dict}); save model.state_dict() instead"
        )
    return checkpoint


def _unreadable(path: Path, err: BaseException) -> ValueError:
    return ValueError(
        f"cannot read checkpoint {path} ({path.stat().st_size:,} bytes): it is not a complete "
        f"PyTorch file ({type(err).__name__}: {err}). It may be truncated (an interrupted "
        "download, copy or save) or another kind of file: write or copy it again."
    )


def state_dict_of(
    checkpoint: Mapping, param_key: str | None = None, *, prefer_ema: bool = True
) -> dict[str, Tensor]:
    """The state_dict inside a checkpoint, without "module." prefixes.

    param_key=None picks "params_ema" if present, else "params", else the checkpoint itself when
    it is a bare state_dict. BasicSR's own loader defaults to "params"; we prefer the EMA weights
    because, when a BasicSR run keeps them, they are the ones its released models and test
    configs use (e.g. Real-ESRGAN). prefer_ema=False picks "params" before "params_ema", as
    BasicSR's loader does (and as its SpyNet and IconVSR read their pretrained parts); param_key
    names the entry outright and fails if it is missing."""
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f"a checkpoint must be a dict, got {type(checkpoint).__name__}")
    if param_key is not None:
        if param_key not in checkpoint:
            raise KeyError(f"checkpoint has no {param_key!r}; its keys: {', '.join(checkpoint)}")
        state = checkpoint[param_key]
    else:
        order = ("params_ema", "params") if prefer_ema else ("params", "params_ema")
        state = next((checkpoint[k] for k in order if k in checkpoint), checkpoint)
    if not isinstance(state, Mapping):
        raise TypeError(f"the state_dict must be a dict, got {type(state).__name__}")
    not_tensors = [k for k, v in state.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise ValueError(
            f"not a state_dict (no 'params'/'params_ema' and non-tensor entries "
            f"{_first([str(k) for k in not_tensors], 5)})"
        )
    # DataParallel / DistributedDataParallel save "module.<key>"; strip it key by key, as BasicSR.
    return {k.removeprefix("module."): v for k, v in state.items()}


def load(
    model: nn.Module,
    path_or_state: PathLike | Mapping,
    *,
    strict: bool = True,
    param_key: str | None = None,
    prefer_ema: bool = True,
    source: PathLike | None = None,
) -> nn.Module:
    """Load weights into `model` (in place) and return it.

    path_or_state: a file (read with weights_only=True) or an already loaded checkpoint: a BasicSR
    dict with "params" / "params_ema", an srlab checkpoint, or a bare state_dict; "module."
    prefixes are removed. See state_dict_of for param_key and prefer_ema.
    strict=True: any missing, unexpected or mis-shaped key raises CheckpointMismatchError, which
    names them. strict=False loads the keys that match and ignores missing and unexpected ones;
    a shape mismatch still raises (there is no sensible way to load it).
    source: the file an already loaded checkpoint came from, named in the errors."""
    if isinstance(path_or_state, Mapping):
        checkpoint = path_or_state
    else:
        checkpoint, source = read(path_or_state), path_or_state
    source = "checkpoint" if source is None else f"checkpoint {source}"
    try:
        state = state_dict_of(checkpoint, param_key, prefer_ema=prefer_ema)
    except (KeyError, TypeError, ValueError) as err:
        raise type(err)(f"{source}: {err.args[0]}") from err
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        (k, tuple(v.shape), tuple(expected[k].shape))
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if mismatched or (strict and (missing or unexpected)):
        # A model that can tell which of its configurations a checkpoint is (DUF) says so.
        hint = model.mismatch_hint(state) if hasattr(model, "mismatch_hint") else None
        raise CheckpointMismatchError(
            type(model).__name__, missing, unexpected, mismatched, source, hint
        )
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=strict)
    return model


def load_shared(model: nn.Module, state: Mapping[str, Tensor]) -> list[str]:
    """Copy into `model` every entry of `state` whose key and shape it shares, in place, and return
    the model's keys that kept their own values (sorted).

    This is how an ablation starts every variant from the full model's initial weights: build the
    full model after torch.manual_seed(seed), take its state_dict, load_shared(variant, init).
    A switch that removes a module (RCAN's use_ca=False) leaves nothing unshared; one that changes
    a layer's shape (IconVSR's coupled=False) returns that layer's keys, which keep the variant's
    own initialisation."""
    own = model.state_dict()
    shared = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(shared, strict=False)
    return sorted(k for k in own if k not in shared)


def _check_plain(value, name: str, *, tensors: bool) -> None:
    """Raise unless value is built from None, bool, int, float, str, lists, tuples and dicts with
    str keys (and tensors if allowed): what JSON can hold and weights_only=True can load."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return
    if tensors and isinstance(value, Tensor):
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check_plain(v, f"{name}[{i}]", tensors=tensors)
        return
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        for k, v in value.items():
            _check_plain(v, f"{name}[{k!r}]", tensors=tensors)
        return
    allowed = "plain values (None, bool, int, float, str, list, tuple, dict with str keys)"
    raise TypeError(
        f"{name} must hold only {allowed}{' or tensors' if tensors else ''}, "
        f"got {type(value).__name__}"
    )


def save(
    path: PathLike,
    model: nn.Module,
    *,
    arch: str | None = None,
    kwargs: dict | None = None,
    extra: dict | None = None,
) -> Path:
    """Write {"params": state_dict, "srlab": {"arch", "kwargs", "version"}, **extra} atomically.

    arch and kwargs say how to rebuild the model with srlab.archs.build(arch, **kwargs); they
    default to model.srlab_config, which build() attaches. kwargs must be plain JSON-like values.
    extra adds top-level entries (e.g. {"iter": 1000}): plain values or tensors."""
    config = getattr(model, "srlab_config", None) or {}
    arch = arch if arch is not None else config.get("arch")
    kwargs = kwargs if kwargs is not None else config.get("kwargs", {})
    if arch is None:
        raise ValueError("save needs arch= (and kwargs=) for a model not made by srlab.archs.build")
    if not isinstance(arch, str):
        raise TypeError(f"arch must be a model name (str), got {type(arch).__name__}")
    _check_plain(kwargs, "kwargs", tensors=False)
    extra = dict(extra or {})
    reserved = {"params", "srlab"} & set(extra)
    if reserved:
        raise ValueError(f"extra must not use the reserved key(s) {sorted(reserved)}")
    _check_plain(extra, "extra", tensors=True)

    params = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    srlab_info = {"arch": arch, "kwargs": dict(kwargs), "version": srlab.__version__}
    return torch_save(path, {"params": params, "srlab": srlab_info, **extra})


def load_model(path: PathLike) -> nn.Module:
    """srlab.archs.load_model(path): rebuild the model an srlab checkpoint names and load it.
    It lives beside build() in srlab.archs; this name stays for existing callers."""
    from srlab.archs import load_model as load_by_name  # the registry imports this module

    return load_by_name(path)
