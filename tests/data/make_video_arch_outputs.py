"""Writes video_arch_outputs.npz: outputs of tiny seeded video models on fixed random inputs.

    PYTHONPATH=<checkout> python tests/data/make_video_arch_outputs.py out.npz

The committed file was made with the code at commit e808b78, whose forward passes had been
checked bit-equal against line-by-line copies of BasicSR 1.4.2's classes. tests/test_video_archs.py
compares today's outputs with it, so a refactor that changes any number fails."""

import sys

import numpy as np
import torch

from srlab.archs import build

torch.manual_seed(0)
lqs = torch.rand(1, 5, 3, 8, 8)
flows = (torch.randn(1, 4, 2, 8, 8) * 0.5, torch.randn(1, 4, 2, 8, 8) * 0.5)
configs = {
    "basicvsr": ("basicvsr", dict(num_feat=8, num_block=1)),
    "basicvsr_uni": ("basicvsr", dict(num_feat=8, num_block=1, propagation="unidirectional")),
    "iconvsr": ("iconvsr", dict(num_feat=16, num_block=1, keyframe_stride=2, temporal_padding=2)),
    "edvr": (
        "edvr",
        dict(
            num_feat=16,
            num_frame=5,
            num_extract_block=1,
            num_reconstruct_block=1,
            deformable_groups=8,
        ),
    ),
}
out = {"lqs": lqs.numpy(), "flow_forward": flows[0].numpy(), "flow_backward": flows[1].numpy()}
for name, (arch, kw) in configs.items():
    torch.manual_seed(1)
    m = build(arch, **kw).eval()
    with torch.no_grad():
        if arch == "edvr":
            y = m(lqs)
        else:
            y = m(lqs, flows=flows) if name != "basicvsr_uni" else m(lqs)  # uni: its own SpyNet
    out[name] = y.numpy()
np.savez_compressed(sys.argv[1], **out)
print({k: v.shape for k, v in out.items()})
