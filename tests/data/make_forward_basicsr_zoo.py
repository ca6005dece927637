"""BasicSR's own outputs for DUF, TOFlow, HiFaceGAN (+ discriminator) and duf_downsample, written
to forward_basicsr_zoo.npz + .json; tests/test_archs_zoo.py compares srlab's with them.

    python tests/data/make_forward_basicsr_zoo.py <unpacked basicsr-1.4.2 sdist> tests/data

It runs BasicSR 1.4.2's source files themselves (basicsr/archs/{duf,tof,hifacegan}_arch.py,
hifacegan_util.py, arch_util.flow_warp, data_util.duf_downsample), imported one by one with
stand-ins for what they import but never call (the arch registry, the DCN extension,
torchvision), so nothing of srlab is involved. The sdist is PyPI's basicsr-1.4.2.tar.gz.

Weights are not stored (DUF alone has 1.7-5.8M parameters): reference_state() draws them from a
seeded torch.Generator in state_dict order, and the test draws the same ones; the json keeps every
tensor's sum, so a different draw is reported as such, not as a forward-pass mismatch."""

from __future__ import annotations

import ast
import importlib
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SEED = 0
# name -> (BasicSR class, constructor kwargs, input shape, mode); inputs are torch.rand in [0, 1]
DUF_OFFICIAL = dict(adapt_official_weights=True)
BATCH = dict(num_feat=4, norm_g="spectralspadebatch3x3", is_train=False)
INSTANCE = dict(BATCH, norm_g="spectralspadeinstance3x3")
PHASE1 = dict(BATCH, is_train=True, init_train_phase=1)  # progressive training: 2 of 4 ups
CONFIGS = {
    "duf_16l_x2": ("DUF", dict(scale=2, num_layer=16, **DUF_OFFICIAL), (1, 7, 3, 8, 8), "eval"),
    "duf_16l_x3": ("DUF", dict(scale=3, num_layer=16, **DUF_OFFICIAL), (1, 7, 3, 8, 8), "eval"),
    "duf_28l_x4": ("DUF", dict(scale=4, num_layer=28, **DUF_OFFICIAL), (1, 7, 3, 8, 8), "eval"),
    "duf_52l_x4": ("DUF", dict(scale=4, num_layer=52), (2, 7, 3, 6, 10), "eval"),
    "tof": ("TOFlow", dict(adapt_official_weights=False), (1, 7, 3, 32, 48), "eval"),
    "tof_official": ("TOFlow", dict(adapt_official_weights=True), (2, 7, 3, 32, 32), "eval"),
    "hifacegan_batch": ("HiFaceGAN", BATCH, (2, 3, 64, 64), "eval"),
    "hifacegan_batch_train": ("HiFaceGAN", BATCH, (2, 3, 64, 64), "train"),
    "hifacegan_instance": ("HiFaceGAN", INSTANCE, (1, 3, 32, 64), "eval"),
    "hifacegan_phase1": ("HiFaceGAN", PHASE1, (1, 3, 64, 64), "eval"),
    "hifacegan_discriminator": ("HiFaceGANDiscriminator", dict(num_feat=8), (1, 6, 64, 64), "eval"),
    "hifacegan_discriminator_train": ("HiFaceGANDiscriminator", dict(num_feat=8), (2, 6, 48, 64),
                                      "train"),
}  # fmt: skip
DUF_DOWNSAMPLE_INPUT = (1, 2, 3, 36, 48)  # (b, t, c, h, w), divisible by 2, 3 and 4


def reference_state(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Weights drawn in state_dict order from torch.Generator().manual_seed(seed): convs
    N(0, 1/fan_in), norm scales 1 + N(0, 0.1^2), biases and running means N(0, 0.1^2), running
    variances U(0.5, 1.5). Spectral-norm vectors u, v come from 10 power iterations on the
    weight, so sigma is close to the top singular value. Constant buffers (TOFlow's mean and std)
    keep the model's own values."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        shape, leaf = value.shape, key.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked":
            state[key] = torch.tensor(10)
        elif leaf in ("mean", "std") or leaf in ("weight_u", "weight_v"):
            state[key] = value.clone()  # constants; u and v are set below
        elif leaf == "running_var":
            state[key] = 0.5 + torch.rand(shape, generator=g)
        elif value.dim() >= 2:
            state[key] = torch.randn(shape, generator=g) / shape[1:].numel() ** 0.5
        elif leaf == "weight":
            state[key] = 1 + 0.1 * torch.randn(shape, generator=g)
        else:  # biases, running means
            state[key] = 0.1 * torch.randn(shape, generator=g)
    for key in [k for k in state if k.endswith(".weight_orig")]:
        prefix = key.removesuffix("_orig")
        w = state[key].flatten(1)
        v = F.normalize(torch.randn(w.shape[1], generator=g), dim=0)
        for _ in range(10):
            u = F.normalize(w @ v, dim=0)
            v = F.normalize(w.T @ u, dim=0)
        state[prefix + "_u"], state[prefix + "_v"] = u, v
    return state


def flatten(out) -> dict[str, torch.Tensor]:
    """A tensor, or the discriminator's list (per scale) of lists (per stage), by name."""
    if isinstance(out, torch.Tensor):
        return {"output": out}
    return {f"output/{i}/{j}": f for i, scale in enumerate(out) for j, f in enumerate(scale)}


def import_basicsr(sdist: Path) -> dict[str, type]:
    """BasicSR's arch classes from the sdist, with stand-ins for imports they do not use."""
    root = sdist / "basicsr"

    def package(name: str, path: Path | None = None, **attrs) -> types.ModuleType:
        module = types.ModuleType(name)
        if path is not None:
            module.__path__ = [str(path)]
        module.__dict__.update(attrs)
        sys.modules[name] = module
        return module

    registry = types.SimpleNamespace(register=lambda *a, **k: lambda cls: cls)
    package("basicsr", root)
    package("basicsr.utils", root / "utils", get_root_logger=lambda *a, **k: None)
    package("basicsr.utils.registry", ARCH_REGISTRY=registry)
    package("basicsr.ops", root / "ops")
    package("basicsr.ops.dcn", ModulatedDeformConvPack=object, modulated_deform_conv=None)
    package("basicsr.archs", root / "archs")  # its __init__ would import every arch
    if importlib.util.find_spec("torchvision") is None:
        package("torchvision")  # arch_util imports it for its DCN check only
    classes = {}
    for module in ("duf_arch", "tof_arch", "hifacegan_arch"):
        classes.update(vars(importlib.import_module(f"basicsr.archs.{module}")))
    return classes


def basicsr_duf_downsample(sdist: Path):
    """basicsr/data/data_util.py's generate_gaussian_kernel and duf_downsample, executed from
    the file (the module itself imports cv2 and the whole data package)."""
    source = (sdist / "basicsr" / "data" / "data_util.py").read_text()
    wanted = {"generate_gaussian_kernel", "duf_downsample"}
    tree = ast.parse(source)
    tree.body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in wanted]
    namespace = {"np": np, "torch": torch, "F": F}
    exec(compile(tree, "basicsr/data/data_util.py", "exec"), namespace)
    return namespace["duf_downsample"]


def main(sdist: Path, out_dir: Path) -> None:
    classes = import_basicsr(sdist)
    arrays, meta = {}, {}
    for name, (cls, kwargs, in_shape, mode) in CONFIGS.items():
        model = classes[cls](**kwargs)
        state = reference_state(model, SEED)
        model.load_state_dict(state, strict=True)
        model.train(mode == "train")
        torch.manual_seed(1)
        x = torch.rand(in_shape)
        with torch.no_grad():
            outputs = flatten(model(x))
        arrays[f"{name}/input"] = x.numpy()
        arrays.update({f"{name}/{k}": v.numpy() for k, v in outputs.items()})
        meta[name] = {
            "basicsr_class": cls,
            "kwargs": kwargs,
            "mode": mode,
            "outputs": list(outputs),
            "state_sums": {k: float(v.double().sum()) for k, v in state.items()},
        }
    duf_downsample = basicsr_duf_downsample(sdist)
    torch.manual_seed(2)
    frames = torch.rand(DUF_DOWNSAMPLE_INPUT)
    arrays["duf_downsample/input"] = frames.numpy()
    for scale in (2, 3, 4):
        arrays[f"duf_downsample/x{scale}"] = duf_downsample(frames, 13, scale).numpy()
    meta["duf_downsample"] = {
        "function": "basicsr.data.data_util.duf_downsample",
        "scales": [2, 3, 4],
    }
    np.savez_compressed(out_dir / "forward_basicsr_zoo.npz", **arrays)
    (out_dir / "forward_basicsr_zoo.json").write_text(json.dumps(meta, indent=1) + "\n")
    print({k: v.shape for k, v in arrays.items() if not k.endswith("/input")})


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
