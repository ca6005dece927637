"""The losses of GAN-based SR: perceptual (VGG19 features), adversarial, and ESRGAN's relativistic
adversarial loss. Pixel losses (L1, MSE, Charbonnier) are srlab.train.pixel_loss.

    perceptual = PerceptualLoss({"conv5_4": 1.0})        # ESRGAN: before the ReLU; L1
    l_percep = perceptual(sr, gt)
    l_gan = gan_loss(discriminator(sr), True, "vanilla", is_disc=False)

SRGAN (Ledig et al., CVPR 2017, arXiv:1609.04802) trains a generator against a discriminator and
compares VGG features instead of pixels. ESRGAN (Wang et al., ECCVW 2018, arXiv:1809.00219) changes
two of its losses: the discriminator becomes relativistic (Sec. 3.2, after Jolicoeur-Martineau,
"The relativistic discriminator", ICLR 2019) and the perceptual loss takes VGG features *before*
the activation (Sec. 3.3): after the ReLU they are sparse in deep layers and lose brightness.

The definitions are BasicSR's (basicsr/losses/gan_loss.py GANLoss, basic_loss.py PerceptualLoss,
models/esrgan_model.py), with the weights left to the caller. Without a VGG weights file the
perceptual loss runs on a fixed random-weight VGG19 and says so: PerceptualLoss.source."""

from __future__ import annotations

import os

import torch.nn.functional as F
from torch import Tensor, nn

from srlab.archs.vgg import VGG19Features
from srlab.checks import check_same_shape, check_tensor

GAN_TYPES = ("vanilla", "lsgan", "wgan", "wgan_softplus", "hinge")
PERCEPTUAL_CRITERIA = ("l1", "mse")


def check_gan_type(gan_type: object) -> str:
    if gan_type not in GAN_TYPES:
        raise ValueError(f"gan_type must be one of {GAN_TYPES}, got {gan_type!r}")
    return gan_type


def gan_loss(pred: Tensor, target_is_real: bool, gan_type: str, *, is_disc: bool) -> Tensor:
    """The adversarial loss of discriminator outputs `pred` (logits, any shape), as BasicSR's
    GANLoss with labels 1 (real) and 0 (fake), unweighted.

    vanilla: binary cross-entropy on the logits (SRGAN). lsgan: mean squared error to the label
    (Mao et al., ICCV 2017). wgan: -mean(pred) for real, +mean(pred) for fake (Arjovsky et al.,
    2017). wgan_softplus: softplus(-pred) / softplus(pred), the non-saturating logistic loss of
    StyleGAN2. hinge: for the discriminator relu(1 - pred) / relu(1 + pred); for the generator
    -mean(pred) whatever the target (Miyato et al., ICLR 2018)."""
    check_tensor(pred, "pred")
    check_gan_type(gan_type)
    if gan_type == "vanilla":
        target = pred.new_full(pred.shape, 1.0 if target_is_real else 0.0)
        return F.binary_cross_entropy_with_logits(pred, target)
    if gan_type == "lsgan":
        return F.mse_loss(pred, pred.new_full(pred.shape, 1.0 if target_is_real else 0.0))
    if gan_type == "wgan":
        return -pred.mean() if target_is_real else pred.mean()
    if gan_type == "wgan_softplus":
        return F.softplus(-pred).mean() if target_is_real else F.softplus(pred).mean()
    if not is_disc:  # hinge, generator
        return -pred.mean()
    return F.relu(1 - pred).mean() if target_is_real else F.relu(1 + pred).mean()


def relativistic_generator_loss(real_pred: Tensor, fake_pred: Tensor, gan_type: str) -> Tensor:
    """ESRGAN's generator loss (Eq. 2): the relativistic average discriminator
    D_Ra(a, b) = sigma(C(a) - mean C(b)) should now find the fakes *more* realistic than the
    average real image and the reals *less* realistic than the average fake, so the generator
    gets gradients from both. real_pred = C(gt) (detached here), fake_pred = C(G(lq))."""
    check_same_shape(real_pred, fake_pred, "real_pred", "fake_pred")
    real_pred = real_pred.detach()
    l_real = gan_loss(real_pred - fake_pred.mean(), False, gan_type, is_disc=False)
    l_fake = gan_loss(fake_pred - real_pred.mean(), True, gan_type, is_disc=False)
    return (l_real + l_fake) / 2


def relativistic_discriminator_loss(real_pred: Tensor, fake_pred: Tensor, gan_type: str) -> Tensor:
    """ESRGAN's discriminator loss (Eq. 1): reals more realistic than the average fake, fakes less
    realistic than the average real. As BasicSR, each term's average comes from the other batch
    detached, and the two terms are weighted 1/2."""
    check_same_shape(real_pred, fake_pred, "real_pred", "fake_pred")
    l_real = gan_loss(real_pred - fake_pred.detach().mean(), True, gan_type, is_disc=True)
    l_fake = gan_loss(fake_pred - real_pred.detach().mean(), False, gan_type, is_disc=True)
    return (l_real + l_fake) / 2


class PerceptualLoss(nn.Module):
    """sum over layers of weight * criterion(VGG19_layer(x), VGG19_layer(gt)) (BasicSR's
    PerceptualLoss with style_weight 0).

    layer_weights: {layer: weight}, names from srlab.archs.vgg.LAYER_NAMES. ESRGAN and BasicSR's
        configs: {"conv5_4": 1.0}, the last conv's output *before* its ReLU; {"relu5_4": 1.0} is
        SRGAN's choice, after it.
    vgg_weights: torchvision's vgg19-dcbb9e9d.pth (a path), or None for a fixed random-weight VGG19.
    criterion: "l1" (BasicSR's configs) or "mse".
    x, gt: (b, 3, h, w) RGB in [0, 1] (x may overshoot); gt is detached. Returns a scalar.
    `source` says which VGG it is: print it next to every number made with this loss."""

    def __init__(
        self,
        layer_weights: dict[str, float] | None = None,
        *,
        vgg_weights: str | os.PathLike | None = None,
        criterion: str = "l1",
    ):
        super().__init__()
        layer_weights = {"conv5_4": 1.0} if layer_weights is None else dict(layer_weights)
        if not layer_weights:
            raise ValueError("layer_weights is empty: name at least one VGG19 layer")
        if criterion not in PERCEPTUAL_CRITERIA:
            raise ValueError(f"criterion must be one of {PERCEPTUAL_CRITERIA}, got {criterion!r}")
        self.layer_weights = {str(k): float(v) for k, v in layer_weights.items()}
        self.criterion = criterion
        self.vgg = VGG19Features(tuple(self.layer_weights), weights=vgg_weights)

    @property
    def source(self) -> str:
        """Which VGG19 this loss measures with (random weights or the user's ImageNet file)."""
        return self.vgg.source

    @property
    def pretrained(self) -> bool:
        return self.vgg.pretrained

    def forward(self, x: Tensor, gt: Tensor) -> Tensor:
        check_same_shape(x, gt, "x", "gt")
        x_feats, gt_feats = self.vgg(x), self.vgg(gt.detach())
        distance = F.l1_loss if self.criterion == "l1" else F.mse_loss
        return sum(w * distance(x_feats[k], gt_feats[k]) for k, w in self.layer_weights.items())

    def extra_repr(self) -> str:
        return f"layer_weights={self.layer_weights}, criterion={self.criterion!r}"
