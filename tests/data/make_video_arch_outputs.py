"""The pinned outputs of tiny seeded video models: CONFIGS and outputs() are what
tests/test_video_archs.py runs; as a script this writes video_arch_outputs.npz.

    PYTHONPATH=<checkout> python tests/data/make_video_arch_outputs.py out.npz

The committed file was made with the code at commit e808b78, whose forward passes had been
checked bit-equal against line-by-line copies of BasicSR 1.4.2's classes. The test compares
today's outputs with it, so a refactor that changes any number fails."""

import sys

import numpy as np
import torch

from srlab.archs import build

CONFIGS = {  # name -> (arch, constructor arguments)
    "basicvsr": ("basicvsr", dict(num_feat=8, num_block=1)),
    "basicvsr_uni": ("basicvsr", dict(num_feat=8, num_block=1, propagation="unidirectional")),
    "iconvsr": ("iconvsr", dict(num_feat=16, num_block=1, keyframe_stride=2, temporal_padding=2)),
    "edvr": ("edvr", dict(num_feat=16, num_frame=5, num_extract_block=1, num_reconstruct_block=1,
                          deformable_groups=8)),
}  # fmt: skip


def outputs(lqs: torch.Tensor, flows: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Every CONFIGS model, built after torch.manual_seed(1), run on lqs (1, 5, 3, 8, 8): EDVR on
    the frames alone, unidirectional BasicVSR with its own SpyNet (forward flows only), the others
    with the given flows."""
    out = {}
    for name, (arch, kwargs) in CONFIGS.items():
        torch.manual_seed(1)
        model = build(arch, **kwargs).eval()
        with torch.no_grad():
            own_flow = arch == "edvr" or name == "basicvsr_uni"
            out[name] = model(lqs) if own_flow else model(lqs, flows=flows)
    return out


if __name__ == "__main__":
    torch.manual_seed(0)
    lqs = torch.rand(1, 5, 3, 8, 8)
    flows = (torch.randn(1, 4, 2, 8, 8) * 0.5, torch.randn(1, 4, 2, 8, 8) * 0.5)
    arrays = {k: v.numpy() for k, v in outputs(lqs, flows).items()}
    np.savez_compressed(
        sys.argv[1], lqs=lqs.numpy(), flow_forward=flows[0].numpy(),
        flow_backward=flows[1].numpy(), **arrays,
    )  # fmt: skip
    print({k: v.shape for k, v in arrays.items()})
