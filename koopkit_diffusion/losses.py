"""Reconstruction losses and the adversarial term of the Koopman Distillation Model.

``ℓ ∈ {mse, pseudo-Huber, LPIPS}`` compares a decoded sample with the teacher's sample
(DESIGN §3, KDM; Berman et al. 2025). Every reconstruction loss maps two tensors of the same
shape ``(batch, *data_shape)`` to a scalar, the mean over the batch.

LPIPS (Zhang et al. 2018, the "vgg" variant) never downloads anything: it loads two files from a
folder the user provides (see :class:`LPIPS` for their format). The adversarial term is the
non-saturating GAN loss (Goodfellow et al. 2014) with a small patch discriminator for images
(an MLP for flat data), weighted by ``0.01·w`` in the KDM objective.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LOSS_KINDS",
    "mse",
    "pseudo_huber",
    "LPIPS",
    "ReconstructionLoss",
    "make_reconstruction_loss",
    "PatchDiscriminator",
    "MLPDiscriminator",
    "make_discriminator",
    "generator_adversarial_loss",
    "discriminator_adversarial_loss",
]

LOSS_KINDS = ("mse", "pseudo_huber", "lpips")

#: File names :class:`LPIPS` expects inside its weights folder.
LPIPS_TRUNK_FILE = "vgg16_features.pth"
LPIPS_LINEAR_FILE = "lpips_vgg.pth"

# torchvision's vgg16().features layout: conv indices and channels; ReLU after each conv,
# max-pool at 4, 9, 16, 23. LPIPS taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_LPIPS_TAPS = (3, 8, 15, 22, 29)
_LPIPS_CHANNELS = (64, 128, 256, 512, 512)


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(
            f"loss inputs must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.ndim < 2:
        raise ValueError(f"loss inputs must have shape (batch, ...), got {tuple(x.shape)}")


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all elements.

    Parameters
    ----------
    x, y : Tensor of shape (batch, ...)

    Returns
    -------
    Tensor
        Scalar ``mean((x − y)²)``; zero iff ``x == y``.
    """
    _check_pair(x, y)
    return F.mse_loss(x, y)


def pseudo_huber(x: torch.Tensor, y: torch.Tensor, c: float | None = None) -> torch.Tensor:
    """Pseudo-Huber loss ``√(‖x − y‖² + c²) − c`` per sample, averaged over the batch.

    Song & Dhariwal 2023 ("Improved techniques for training consistency models", eq. 9). It is
    quadratic for small errors and linear for large ones.

    Parameters
    ----------
    x, y : Tensor of shape (batch, ...)
    c : float, optional
        Transition scale ``c > 0``. Default ``0.00054·√d`` with ``d`` the number of elements per
        sample, as in that paper.

    Returns
    -------
    Tensor
        Scalar, zero iff ``x == y``.
    """
    _check_pair(x, y)
    d = x[0].numel()
    if c is None:
        c = 0.00054 * math.sqrt(d)
    if c <= 0:
        raise ValueError(f"pseudo-Huber c must be positive, got {c}")
    sq = (x - y).flatten(1).square().sum(dim=1)
    # √(s + c²) − c written as s / (√(s + c²) + c): no cancellation, exactly 0 at s = 0.
    return (sq / (torch.sqrt(sq + c * c) + c)).mean()


def _vgg16_trunk() -> nn.Sequential:
    layers: list[nn.Module] = []
    in_ch = 3
    for item in _VGG16_CFG:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_ch, item, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
            in_ch = item
    return nn.Sequential(*layers)


class LPIPS(nn.Module):
    """Learned perceptual image patch similarity, VGG16 variant (Zhang et al. 2018, eq. 1).

    ``d(x, y) = Σ_l mean_hw ‖w_l ⊙ (f̂_l(x) − f̂_l(y))‖²`` with ``f̂_l`` the channel-normalised
    VGG16 activations at relu1_2 … relu5_3 and ``w_l`` learned non-negative 1×1 weights.

    The weights come from two files in ``weights_dir`` (nothing is downloaded):

    ``vgg16_features.pth``
        A state dict of torchvision's ``vgg16().features`` (keys ``"0.weight"``, ``"0.bias"``, …,
        ``"28.bias"``). A full torchvision ``vgg16`` state dict (keys ``"features.0.weight"``, …)
        is accepted as well; classifier keys are ignored.
    ``lpips_vgg.pth``
        The linear heads as shipped in the original LPIPS release (``weights/v0.1/vgg.pth``): keys
        ``"lin{i}.model.1.weight"`` of shape ``(1, C_i, 1, 1)``, ``i = 0..4``,
        ``C = (64, 128, 256, 512, 512)``.

    Parameters
    ----------
    weights_dir : str or os.PathLike
        Folder holding both files.
    resize : int or None, default 224
        Inputs are bilinearly resized to ``resize × resize`` first (the VGG trunk needs at least
        16×16; 224 is the resolution LPIPS was calibrated at). ``None`` keeps the input size.

    Notes
    -----
    Inputs have shape ``(batch, C, H, W)`` with values in ``[-1, 1]``; one-channel images are
    repeated to three channels. Parameters are frozen (``requires_grad=False``); gradients flow to
    the inputs.
    """

    def __init__(self, weights_dir: str | os.PathLike, resize: int | None = 224) -> None:
        super().__init__()
        weights_dir = Path(weights_dir)
        trunk_path, lin_path = weights_dir / LPIPS_TRUNK_FILE, weights_dir / LPIPS_LINEAR_FILE
        missing = [str(p) for p in (trunk_path, lin_path) if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"LPIPS weights not found: {', '.join(missing)}. Expected in {weights_dir}: "
                f"'{LPIPS_TRUNK_FILE}' (state dict of torchvision vgg16().features) and "
                f"'{LPIPS_LINEAR_FILE}' (the LPIPS v0.1 vgg linear heads, keys "
                "'lin0.model.1.weight' … 'lin4.model.1.weight'). Nothing is downloaded."
            )
        if resize is not None and resize < 16:
            raise ValueError(f"LPIPS resize must be at least 16 (or None), got {resize}")
        self.resize = resize
        self.trunk = _vgg16_trunk()
        trunk_state = torch.load(trunk_path, map_location="cpu", weights_only=True)
        if any(k.startswith("features.") for k in trunk_state):
            trunk_state = {
                k[len("features.") :]: v
                for k, v in trunk_state.items()
                if k.startswith("features.")
            }
        self.trunk.load_state_dict(trunk_state)
        lin_state = torch.load(lin_path, map_location="cpu", weights_only=True)
        self.lins = nn.ParameterList()
        for i, ch in enumerate(_LPIPS_CHANNELS):
            key = f"lin{i}.model.1.weight"
            if key not in lin_state or tuple(lin_state[key].shape) != (1, ch, 1, 1):
                raise ValueError(
                    f"{lin_path} must hold '{key}' of shape (1, {ch}, 1, 1); "
                    f"found keys {sorted(lin_state)}"
                )
            self.lins.append(nn.Parameter(lin_state[key].float().clone()))
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if self.resize is not None and x.shape[-1] != self.resize:
            x = F.interpolate(
                x, size=(self.resize, self.resize), mode="bilinear", align_corners=False
            )
        h = (x - self.shift) / self.scale
        feats = []
        for i, layer in enumerate(self.trunk):
            h = layer(h)
            if i in _LPIPS_TAPS:
                feats.append(h / (h.square().sum(dim=1, keepdim=True).sqrt() + 1e-10))
            if i == _LPIPS_TAPS[-1]:
                break
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample LPIPS distance.

        Parameters
        ----------
        x, y : Tensor of shape (batch, C, H, W), C ∈ {1, 3}

        Returns
        -------
        Tensor of shape (batch,)
        """
        return self.distances_to([x], y)[0]

    def distances_to(self, xs: Sequence[torch.Tensor], y: torch.Tensor) -> list[torch.Tensor]:
        """Per-sample LPIPS distances of several batches to one target batch.

        The VGG trunk runs once over all of ``xs`` and once over ``y``. A target that does not
        require gradients (a teacher sample) runs under :func:`torch.no_grad`, so the backward
        pass covers the compared batches alone: two distances to the same target cost three
        trunk passes forward and two backward instead of four and four.

        Parameters
        ----------
        xs : sequence of Tensor, each of shape (batch, C, H, W), C ∈ {1, 3}
        y : Tensor of shape (batch, C, H, W)

        Returns
        -------
        list of Tensor of shape (batch,)
            ``d(xs[i], y)`` for each ``i``.
        """
        if len(xs) == 0:
            raise ValueError("distances_to needs at least one batch to compare")
        for x in xs:
            _check_pair(x, y)
        if y.ndim != 4 or y.shape[1] not in (1, 3):
            raise ValueError(f"LPIPS expects images (batch, 1 or 3, H, W), got {tuple(y.shape)}")
        n = y.shape[0]
        if y.requires_grad:  # one pass over everything, gradients to y too
            feats = self._features(torch.cat([*xs, y]).float())
            feats_x, feats_y = [f[: len(xs) * n] for f in feats], [f[len(xs) * n :] for f in feats]
        else:
            feats_x = self._features(torch.cat(list(xs)).float())
            with torch.no_grad():
                feats_y = self._features(y.float())
        totals = [y.new_zeros(n, dtype=torch.float32) for _ in xs]
        for fx, fy, w in zip(feats_x, feats_y, self.lins, strict=True):
            for i in range(len(xs)):
                diff = (fx[i * n : (i + 1) * n] - fy).square()
                totals[i] = totals[i] + F.conv2d(diff, w).mean(dim=(1, 2, 3))
        return totals


_LPIPS_CACHE: dict[tuple[str, int | None, str], LPIPS] = {}


def _cached_lpips(weights_dir: str, resize: int | None, device: torch.device) -> LPIPS:
    key = (weights_dir, resize, str(device))
    if key not in _LPIPS_CACHE:
        _LPIPS_CACHE[key] = LPIPS(weights_dir, resize=resize).to(device)
    return _LPIPS_CACHE[key]


class ReconstructionLoss(nn.Module):
    """``ℓ(x, y)``: one of mse, pseudo-Huber or LPIPS, reduced to a scalar batch mean.

    The frozen LPIPS network is shared through a per-process cache (keyed by folder, resize and
    device) rather than registered as a sub-module, so model checkpoints and EMA copies do not
    carry the VGG weights.

    Parameters
    ----------
    kind : {"mse", "pseudo_huber", "lpips"}
    huber_c : float, optional
        ``c`` of :func:`pseudo_huber` (default ``0.00054·√d``).
    lpips_weights : str or os.PathLike, optional
        Folder of the LPIPS files (required for ``"lpips"``; see :class:`LPIPS`). The files are
        checked when the loss is built.
    lpips_resize : int or None, default 224
    """

    def __init__(
        self,
        kind: str = "mse",
        huber_c: float | None = None,
        lpips_weights: str | os.PathLike | None = None,
        lpips_resize: int | None = 224,
    ) -> None:
        super().__init__()
        if kind not in LOSS_KINDS:
            raise ValueError(f"unknown reconstruction loss {kind!r}; expected one of {LOSS_KINDS}")
        self.kind = kind
        self.huber_c = huber_c
        self.lpips_weights = None if lpips_weights is None else str(lpips_weights)
        self.lpips_resize = lpips_resize
        if kind == "lpips":
            if lpips_weights is None:
                raise ValueError(
                    "the 'lpips' loss needs lpips_weights: a folder holding "
                    f"'{LPIPS_TRUNK_FILE}' and '{LPIPS_LINEAR_FILE}'"
                )
            _cached_lpips(self.lpips_weights, lpips_resize, torch.device("cpu"))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scalar loss between ``x`` and ``y`` of shape ``(batch, *data_shape)``."""
        if self.kind == "mse":
            return mse(x, y)
        if self.kind == "pseudo_huber":
            return pseudo_huber(x, y, self.huber_c)
        return self.against([x], y)[0]

    def against(self, xs: Sequence[torch.Tensor], y: torch.Tensor) -> list[torch.Tensor]:
        """``[ℓ(x, y) for x in xs]``, sharing the work on the common target ``y``.

        For LPIPS the target's features are computed once (without gradients when ``y`` needs
        none; see :meth:`LPIPS.distances_to`); the other losses are evaluated one by one.

        Parameters
        ----------
        xs : sequence of Tensor, each of shape ``(batch, *data_shape)``
        y : Tensor of shape ``(batch, *data_shape)``

        Returns
        -------
        list of Tensor
            One scalar per entry of ``xs``.
        """
        if self.kind != "lpips":
            return [self(x, y) for x in xs]
        lpips = _cached_lpips(self.lpips_weights, self.lpips_resize, y.device)
        return [d.mean() for d in lpips.distances_to(xs, y)]


def make_reconstruction_loss(kind: str = "mse", **kwargs) -> ReconstructionLoss:
    """Build a :class:`ReconstructionLoss`; ``kwargs`` as in its constructor."""
    return ReconstructionLoss(kind, **kwargs)


class PatchDiscriminator(nn.Module):
    """A small PatchGAN discriminator (Isola et al. 2017): one logit per image patch.

    Strided 4×4 convolutions halve the resolution ``n_layers`` times (stopping at 4×4), with
    LeakyReLU(0.2) and GroupNorm, then a 3×3 convolution to one channel.

    Parameters
    ----------
    in_channels : int
    channels : int, default 64
        Width of the first layer; doubled per layer up to 8×.
    n_layers : int, default 3

    Notes
    -----
    ``forward(x)`` maps ``(batch, in_channels, H, W)`` to logits ``(batch, 1, H', W')``.
    """

    def __init__(self, in_channels: int, channels: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        if in_channels < 1 or channels < 1 or n_layers < 1:
            raise ValueError("in_channels, channels and n_layers must be positive")
        layers: list[nn.Module] = []
        ch_in, ch = in_channels, channels
        for i in range(n_layers):
            layers.append(nn.Conv2d(ch_in, ch, kernel_size=4, stride=2, padding=1))
            if i > 0:
                layers.append(nn.GroupNorm(min(32, ch // 4) or 1, ch))
            layers.append(nn.LeakyReLU(0.2))
            ch_in, ch = ch, min(ch * 2, channels * 8)
        layers.append(nn.Conv2d(ch_in, 1, kernel_size=3, padding=1))
        self.net = nn.Sequential(*layers)
        self.n_layers = n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch logits of shape (batch, 1, H', W')."""
        if x.ndim != 4:
            raise ValueError(f"PatchDiscriminator expects (batch, C, H, W), got {tuple(x.shape)}")
        return self.net(x)


class MLPDiscriminator(nn.Module):
    """Discriminator for flat data ``(batch, dim)``: an MLP with LeakyReLU(0.2), one logit each.

    Parameters
    ----------
    dim : int
    width : int, default 128
    depth : int, default 3
        Number of hidden layers.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.LeakyReLU(0.2)]
            d = width
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, 1)."""
        return self.net(x.flatten(1))


def make_discriminator(data_shape: tuple[int, ...], channels: int = 64) -> nn.Module:
    """A :class:`PatchDiscriminator` for images ``(C, H, W)``, an :class:`MLPDiscriminator` else.

    The patch discriminator uses ``min(3, log2(min(H, W)) − 2)`` down-sampling layers so that the
    patch grid stays at least 4×4.
    """
    if len(data_shape) == 3:
        n_layers = max(1, min(3, int(math.log2(min(data_shape[1:]))) - 2))
        return PatchDiscriminator(data_shape[0], channels=channels, n_layers=n_layers)
    return MLPDiscriminator(math.prod(data_shape), width=channels * 2)


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``E[softplus(−D(G(z)))] = −E[log σ(D(G(z)))]``."""
    return F.softplus(-fake_logits).mean()


def discriminator_adversarial_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """Discriminator loss ``E[softplus(−D(x))] + E[softplus(D(G(z)))]`` (Goodfellow et al. 2014)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
