"""HiFaceGAN: Face Renovation via Collaborative Suppression and Replenishment.
Yang, Wang, Ma, Gao, Liu, Wang and Ren, ACM Multimedia 2020, arXiv:2005.05005 (official code:
github.com/Lotayou/Face-Renovation).

Blind face restoration, not upscaling: the degraded face comes in at the output size (side a
multiple of 32) and the restored face comes out. Two halves:
  - suppression: a LIP encoder (Local Importance-based Pooling, Gao et al., ICCV 2019) halves the
    image 5 times, each time pooling with learned importance weights, so that the features kept
    are the ones that matter and the degradation is pooled away;
  - replenishment: a SPADE generator (Park et al., CVPR 2019) climbs back up from 1/32 in 7
    residual blocks whose normalisation is modulated, at every scale, by the degraded input itself
    (SPADE's "semantic map" is the input image here), so detail is re-synthesised where the input
    says it belongs.
A multi-scale PatchGAN discriminator (pix2pixHD's) sees (degraded, restored) pairs.

Names follow BasicSR's `HiFaceGAN` and `HiFaceGANDiscriminator`, so their checkpoints load with
strict=True, including the legacy spectral-norm keys (`weight_orig`, `weight_u`, `weight_v` of
torch.nn.utils.spectral_norm). Images are RGB in [0, 1] on both sides, as in BasicSR's HiFaceGAN
configs (no mean/std normalisation; the tanh output is read as an image in [0, 1] and clipped when
saved): HiFaceGAN.generate is the network's tanh output, forward clips it to [0, 1]."""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils import spectral_norm

from srlab.checks import check_image

NUM_DOWN = 5  # the LIP encoder halves the image 5 times
MULTIPLE = 2**NUM_DOWN  # input sides must be multiples of 32


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: a parameter-free norm of x, then a per-pixel scale and
    shift predicted from the guide image (resized to x's size). config: "spade<norm><k>x<k>",
    norm "batch" or "instance" ("syncbatch" falls back to instance, as in BasicSR)."""

    def __init__(self, config_text: str, norm_nc: int, label_nc: int):
        super().__init__()
        parsed = re.fullmatch(r"spade(\D+)(\d)x\d", config_text)
        if parsed is None or parsed[1] not in ("batch", "instance", "syncbatch"):
            raise ValueError(
                f"norm_g must look like 'spectralspadebatch3x3' or 'spadeinstance3x3' (norm batch, "
                f"instance or syncbatch), got SPADE config {config_text!r}"
            )
        if parsed[1] == "batch":
            self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        else:  # "instance", and "syncbatch" as BasicSR runs it on one device
            self.param_free_norm = nn.InstanceNorm2d(norm_nc)
        ks = int(parsed[2])
        nhidden = min(norm_nc, 128)
        self.mlp_shared = nn.Sequential(
            nn.Conv2d(label_nc, nhidden, ks, padding=ks // 2), nn.ReLU()
        )
        self.mlp_gamma = nn.Conv2d(nhidden, norm_nc, ks, padding=ks // 2, bias=False)
        self.mlp_beta = nn.Conv2d(nhidden, norm_nc, ks, padding=ks // 2, bias=False)

    def forward(self, x: Tensor, guide: Tensor) -> Tensor:  # x: (b, c, h, w); guide: (b, 3, H, W)
        guide = F.interpolate(guide, size=x.shape[2:], mode="nearest")  # (b, 3, h, w)
        actv = self.mlp_shared(guide)
        return self.param_free_norm(x) * self.mlp_gamma(actv) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """Pre-activation residual block with SPADE norms: SPADE-LReLU-conv twice; a learned 1x1
    shortcut (SPADE, conv) when the channel count changes. (b, fin, h, w) -> (b, fout, h, w)."""

    def __init__(self, fin: int, fout: int, norm_g: str = "spectralspadesyncbatch3x3"):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        wrap = spectral_norm if "spectral" in norm_g else (lambda conv: conv)
        self.conv_0 = wrap(nn.Conv2d(fin, fmiddle, 3, padding=1))
        self.conv_1 = wrap(nn.Conv2d(fmiddle, fout, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = wrap(nn.Conv2d(fin, fout, 1, bias=False))
        spade = norm_g.replace("spectral", "")
        self.norm_0 = SPADE(spade, fin, 3)
        self.norm_1 = SPADE(spade, fmiddle, 3)
        if self.learned_shortcut:
            self.norm_s = SPADE(spade, fin, 3)

    def forward(self, x: Tensor, guide: Tensor) -> Tensor:
        x_s = self.conv_s(self.norm_s(x, guide)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, guide), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, guide), 0.2))
        return x_s + dx


class SoftGate(nn.Module):
    """The LIP importance logits' gate: 12 * sigmoid, so weights exp(.) lie in [1, e^12]."""

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(x) * 12.0


class SimplifiedLIP(nn.Module):
    """Local importance-based pooling, 3x3 stride 2: a weighted average whose weights
    exp(logit) are predicted from x, so salient features survive the downsampling.
    (b, c, h, w) -> (b, c, h/2, w/2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.logit = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.InstanceNorm2d(channels, affine=True),
            SoftGate(),
        )

    def forward(self, x: Tensor) -> Tensor:
        weight = self.logit(x).exp()
        return F.avg_pool2d(x * weight, 3, 2, 1) / F.avg_pool2d(weight, 3, 2, 1)


class LIPEncoder(nn.Module):
    """Conv-IN-ReLU, then n_2xdown times [LIP pooling, conv doubling the channels (at most 16x
    ngf), IN (ReLU but after the last)]. (b, 3, h, w) -> (b, 16 ngf, h/32, w/32) for n_2xdown=5."""

    def __init__(self, input_nc: int, ngf: int, n_2xdown: int):
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(input_nc, ngf, 3, padding=1, bias=False),
            nn.InstanceNorm2d(ngf),
            nn.ReLU(),
        ]
        ratio = 1
        for i in range(n_2xdown):
            next_ratio = min(ratio * 2, 16)
            layers += [
                SimplifiedLIP(ngf * ratio),
                nn.Conv2d(ngf * ratio, ngf * next_ratio, 3, padding=1),
                nn.InstanceNorm2d(ngf * next_ratio),
            ]
            if i < n_2xdown - 1:
                layers.append(nn.ReLU())
            ratio = next_ratio
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class HiFaceGAN(nn.Module):
    """The HiFaceGAN generator. Input (b, 3, h, w) RGB in [0, 1], h and w multiples of 32;
    output (b, 3, h, w) in [0, 1]. (32x32 is too small: one pixel at 1/32 cannot be
    instance-normalised.)

    Arguments are BasicSR's. num_feat: the width at full resolution (48 in BasicSR's configs; 16x
    that at 1/32). norm_g: "[spectral]spade<batch|instance|syncbatch>3x3". is_train and
    init_train_phase: progressive training; with is_train=True only init_train_phase + 1 of the 4
    upsampling blocks run (3, the default, runs all of them). use_vae, z_dim and crop_size only
    shape `fc`, which HiFaceGAN never calls (its LIP encoder replaces SPADE's downsampled input):
    it is kept because BasicSR's checkpoints hold it."""

    def __init__(
        self,
        num_in_ch=3,
        num_feat=64,
        use_vae=False,
        z_dim=256,
        crop_size=512,
        norm_g="spectralspadesyncbatch3x3",
        is_train=True,
        init_train_phase=3,
    ):
        super().__init__()
        if num_in_ch != 3:
            raise ValueError(
                f"num_in_ch must be 3: SPADE's guide is the RGB input, got {num_in_ch}"
            )
        nf = num_feat
        self.is_train, self.train_phase = is_train, init_train_phase
        side = crop_size // MULTIPLE
        self.fc = (
            nn.Linear(z_dim, 16 * nf * side * side)
            if use_vae
            else nn.Conv2d(num_in_ch, 16 * nf, 3, padding=1)
        )
        self.head_0 = SPADEResnetBlock(16 * nf, 16 * nf, norm_g)
        self.g_middle_0 = SPADEResnetBlock(16 * nf, 16 * nf, norm_g)
        self.g_middle_1 = SPADEResnetBlock(16 * nf, 16 * nf, norm_g)
        widths = [16 * nf, 8 * nf, 4 * nf, 2 * nf, nf]
        self.ups = nn.ModuleList(
            SPADEResnetBlock(c_in, c_out, norm_g)
            for c_in, c_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.to_rgbs = nn.ModuleList(nn.Conv2d(c, 3, 3, padding=1) for c in widths[1:])
        self.lip_encoder = LIPEncoder(num_in_ch, nf, NUM_DOWN)

    def generate(self, x: Tensor) -> Tensor:
        """The network itself: (b, 3, h, w) in [0, 1] -> tanh output (b, 3, h, w) in [-1, 1]."""
        check_image(x, "x", channels=3)
        h, w = x.shape[-2:]
        if x.dim() != 4 or h % MULTIPLE or w % MULTIPLE or h * w < 2 * MULTIPLE**2:
            raise ValueError(
                f"HiFaceGAN needs a batch (b, 3, h, w) with h and w multiples of {MULTIPLE} (its "
                f"LIP encoder halves them {NUM_DOWN} times) and at least 2 pixels at 1/{MULTIPLE} "
                f"(instance norm there), e.g. 32x64; got shape {tuple(x.shape)}"
            )
        guide = x  # SPADE's "semantic map" is the degraded face itself
        feat = self.head_0(self.lip_encoder(x), guide)  # (b, 16 nf, h/32, w/32)
        feat = F.interpolate(feat, scale_factor=2)  # nearest, h/16
        feat = self.g_middle_1(self.g_middle_0(feat, guide), guide)
        phase = self.train_phase + 1 if self.is_train else len(self.to_rgbs)
        for up in self.ups[:phase]:
            feat = up(F.interpolate(feat, scale_factor=2), guide)  # x2 each: up to h
        return torch.tanh(self.to_rgbs[phase - 1](F.leaky_relu(feat, 0.2)))

    def forward(self, x: Tensor) -> Tensor:  # x: (b, 3, h, w), RGB in [0, 1]
        # BasicSR trains on [0, 1] images and clips the tanh output to [0, 1] when it saves it:
        # the one place where the network's range becomes the library's.
        return self.generate(x).clamp(0, 1)


def norm_conv(c_in: int, c_out: int, stride: int, norm_d: str) -> nn.Module:
    """A 4x4 discriminator conv with pix2pixHD's norm: norm_d = "[spectral]<instance|batch|none>".
    With a norm after it the conv has no bias (the norm would cancel it)."""
    subnorm = norm_d.removeprefix("spectral")
    if subnorm not in ("instance", "batch", "none", ""):
        raise ValueError(
            f"norm_d must be [spectral] + instance, batch or none (e.g. 'spectralinstance'), "
            f"got {norm_d!r}"
        )
    normed = subnorm in ("instance", "batch")
    conv = nn.Conv2d(c_in, c_out, 4, stride, 2, bias=not normed)
    if norm_d.startswith("spectral"):
        conv = spectral_norm(conv)
    if subnorm == "instance":
        return nn.Sequential(conv, nn.InstanceNorm2d(c_out))
    if subnorm == "batch":
        return nn.Sequential(conv, nn.BatchNorm2d(c_out))
    return conv


class NLayerDiscriminator(nn.Module):
    """A PatchGAN: 4x4 convs, stride 2 but the last two; each stage is a submodule `model<i>` so
    that its output can be kept for the feature-matching loss."""

    def __init__(self, input_nc, n_layers_d, num_feat, norm_d, keep_features):
        super().__init__()
        self.keep_features = keep_features
        nf = num_feat
        stages = [[nn.Conv2d(input_nc, nf, 4, 2, 2), nn.LeakyReLU(0.2)]]
        for n in range(1, n_layers_d):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == n_layers_d - 1 else 2
            stages.append([norm_conv(nf_prev, nf, stride, norm_d), nn.LeakyReLU(0.2)])
        stages.append([nn.Conv2d(nf, 1, 4, 1, 2)])
        for n, stage in enumerate(stages):
            self.add_module(f"model{n}", nn.Sequential(*stage))

    def forward(self, x: Tensor) -> list[Tensor] | Tensor:
        features = []
        for stage in self.children():
            x = stage(x)
            features.append(x)
        return features if self.keep_features else features[-1]


class HiFaceGANDiscriminator(nn.Module):
    """num_d PatchGANs, each on a 2x smaller copy of the input than the last (pix2pixHD).
    Input (b, num_in_ch + num_out_ch, h, w) when conditional_d (degraded and restored face
    concatenated on channels), else (b, num_in_ch, h, w); RGB in [0, 1]. Output: per scale, the
    list of every stage's features (keep_features) or the final patch logits."""

    def __init__(
        self,
        num_in_ch=3,
        num_out_ch=3,
        conditional_d=True,
        num_d=2,
        n_layers_d=4,
        num_feat=64,
        norm_d="spectralinstance",
        keep_features=True,
    ):
        super().__init__()
        self.num_d = num_d
        self.input_nc = num_in_ch + (num_out_ch if conditional_d else 0)
        for i in range(num_d):
            d = NLayerDiscriminator(self.input_nc, n_layers_d, num_feat, norm_d, keep_features)
            self.add_module(f"discriminator_{i}", d)

    def forward(self, x: Tensor) -> list:  # x: (b, input_nc, h, w)
        check_image(x, "x", channels=self.input_nc)
        results = []
        for d in self.children():
            results.append(d(x))
            x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)  # the next scale: h/2
        return results
