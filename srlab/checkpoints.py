"""Load and save model weights: BasicSR checkpoints in, srlab checkpoints out.

A BasicSR checkpoint is a dict {"params": state_dict} and/or {"params_ema": state_dict}; keys may
carry DataParallel's "module." prefix. An srlab checkpoint is {"params": state_dict,
"srlab": {"arch", "kwargs", "version"}, ...extra}, so load_model can rebuild the model by name.
Files are always read with torch.load(weights_only=True): tensors and plain containers only,
never arbitrary pickled objects (which could run code on load)."""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

import srlab
from srlab.archs import ARCHS, PRESETS, build
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
    ):
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        lines = [
            f"checkpoint does not match {model_name}: {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(mismatched)} with a different shape"
        ]
        if missing:
            lines.append(f"  missing ({len(missing)}): {_first(missing)}")
        if unexpected:
            lines.append(f"  unexpected ({len(unexpected)}): {_first(unexpected)}")
        if mismatched:
            shapes = [f"{k} checkpoint {tuple(a)} vs model {tuple(b)}" for k, a, b in mismatched]
            lines.append(f"  shape mismatch ({len(mismatched)}): {_first(shapes)}")
        super().__init__("\n".join(lines))


def _first(items: list[str], n: int = 10) -> str:
    """The first n items, comma-separated, then how many more there are."""
    shown = ", ".join(items[:n])
    return shown + (f", ... and {len(items) - n} more" if len(items) > n else "")


def read(path: PathLike) -> dict:
    """torch.load(path) onto the CPU with weights_only=True; a file that holds anything else than
    tensors and plain containers is refused with pickle.UnpicklingError."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(
            f"refusing to load {path}: it holds objects other than tensors and plain containers, "
            f"and unpickling those could run arbitrary code (weights_only=True).\n{err}"
        ) from err


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
) -> nn.Module:
    """Load weights into `model` (in place) and return it.

    path_or_state: a file (read with weights_only=True) or an already loaded checkpoint: a BasicSR
    dict with "params" / "params_ema", an srlab checkpoint, or a bare state_dict; "module."
    prefixes are removed. See state_dict_of for param_key and prefer_ema.
    strict=True: any missing, unexpected or mis-shaped key raises CheckpointMismatchError, which
    names them. strict=False loads the keys that match and ignores missing and unexpected ones;
    a shape mismatch still raises (there is no sensible way to load it)."""
    checkpoint = path_or_state if isinstance(path_or_state, Mapping) else read(path_or_state)
    state = state_dict_of(checkpoint, param_key, prefer_ema=prefer_ema)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        (k, tuple(v.shape), tuple(expected[k].shape))
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if mismatched or (strict and (missing or unexpected)):
        raise CheckpointMismatchError(type(model).__name__, missing, unexpected, mismatched)
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=strict)
    return model


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
    if arch not in ARCHS and arch not in PRESETS:
        raise ValueError(f"unknown arch {arch!r}; archs: {', '.join(ARCHS)}")
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
    """Rebuild the model an srlab checkpoint describes and load its weights strictly.
    Returned in eval mode (call .train() to continue training)."""
    checkpoint = read(path)
    info = checkpoint.get("srlab") if isinstance(checkpoint, Mapping) else None
    if not isinstance(info, Mapping) or "arch" not in info:
        raise ValueError(
            f"{path} is not an srlab checkpoint (no 'srlab' entry naming the arch); build the "
            "model with srlab.archs.build and call srlab.checkpoints.load(model, path)"
        )
    model = build(info["arch"], **info.get("kwargs", {}))
    return load(model, checkpoint, strict=True).eval()
