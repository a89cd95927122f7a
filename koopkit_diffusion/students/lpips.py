"""LPIPS (Zhang et al. 2018, the "vgg" variant) from local weight files; nothing is downloaded.

:class:`LPIPS` loads two files from a folder the user provides (see its docstring for their
format); :func:`cached_lpips` shares one frozen instance per folder, resolution, pooling and
device. The default is the KDM authors' setting, piq's ``LPIPS(replace_pooling=True)``: the VGG
trunk with average pooling, at the images' own resolution.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "LPIPS",
    "LPIPS_LINEAR_FILE",
    "LPIPS_TRUNK_FILE",
    "cached_lpips",
    "write_random_weights",
]

#: File names :class:`LPIPS` expects inside its weights folder.
LPIPS_TRUNK_FILE = "vgg16_features.pth"
LPIPS_LINEAR_FILE = "lpips_vgg.pth"

# torchvision's vgg16().features layout: conv indices and channels; ReLU after each conv,
# max-pool at 4, 9, 16, 23. LPIPS taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3.
_VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_LPIPS_TAPS = (3, 8, 15, 22, 29)
_LPIPS_CHANNELS = (64, 128, 256, 512, 512)


POOLINGS = ("avg", "max")


def _vgg16_trunk(pooling: str = "max") -> nn.Sequential:
    pool = nn.AvgPool2d if pooling == "avg" else nn.MaxPool2d
    layers: list[nn.Module] = []
    in_ch = 3
    for item in _VGG16_CFG:
        if item == "M":
            layers.append(pool(kernel_size=2, stride=2))
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
        ``C = (64, 128, 256, 512, 512)``. piq's ``lpips_weights.pt`` (what the KDM authors'
        ``piq.LPIPS`` loads) holds the same five heads as a list of ``(1, C_i, 1, 1)`` tensors in
        layer order; saved under this name, it is read as well.

    The trunk is the same torchvision VGG16 for both poolings: piq's ``replace_pooling=True``
    swaps each max-pooling for a 2×2 average-pooling and keeps the weights. piq scales inputs in
    ``[0, 1]`` by the ImageNet mean and std; LPIPS's own scaling of ``[-1, 1]`` inputs used here,
    ``(x − shift)/scale``, is the same map (``shift = 2·mean − 1``, ``scale = 2·std``).

    Parameters
    ----------
    weights_dir : str or os.PathLike
        Folder holding both files.
    resize : int or None, default None
        Inputs are bilinearly resized to ``resize × resize`` first (224, ImageNet's resolution
        for VGG, is what consistency models use for 32×32 images; the LPIPS heads themselves were
        fit on 64×64 patches); ``None`` compares at the input's own size, which must be at least
        16×16 (the trunk halves it four times before its last tap).
    pooling : {"avg", "max"}, default "avg"
        Pooling between the VGG blocks: average (piq's ``replace_pooling=True``, the KDM
        authors') or max (the original LPIPS).

    Notes
    -----
    Inputs have shape ``(batch, C, H, W)`` with values in ``[-1, 1]``; one-channel images are
    repeated to three channels. Parameters are frozen (``requires_grad=False``); gradients flow to
    the inputs.
    """

    def __init__(
        self, weights_dir: str | os.PathLike, resize: int | None = None, pooling: str = "avg"
    ) -> None:
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
        if pooling not in POOLINGS:
            raise ValueError(f"LPIPS pooling must be one of {POOLINGS}, got {pooling!r}")
        self.resize, self.pooling = resize, pooling
        self.trunk = _vgg16_trunk(pooling)
        trunk_state = torch.load(trunk_path, map_location="cpu", weights_only=True)
        if any(k.startswith("features.") for k in trunk_state):
            trunk_state = {
                k[len("features.") :]: v
                for k, v in trunk_state.items()
                if k.startswith("features.")
            }
        self.trunk.load_state_dict(trunk_state)
        lin_state = torch.load(lin_path, map_location="cpu", weights_only=True)
        if isinstance(lin_state, list | tuple):  # piq's lpips_weights.pt
            lin_state = {f"lin{i}.model.1.weight": w for i, w in enumerate(lin_state)}
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
        if self.resize is not None and x.shape[-2:] != (self.resize, self.resize):
            x = F.interpolate(
                x, size=(self.resize, self.resize), mode="bilinear", align_corners=False
            )
        elif self.resize is None and min(x.shape[-2:]) < 16:
            raise ValueError(
                f"LPIPS at native resolution needs images of at least 16×16, got "
                f"{tuple(x.shape[-2:])}; set a resize (e.g. 224)"
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
            if x.shape != y.shape:
                raise ValueError(
                    f"LPIPS inputs must have the same shape, got {tuple(x.shape)} and "
                    f"{tuple(y.shape)}"
                )
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


_LPIPS_CACHE: dict[tuple[str, int | None, str, str], LPIPS] = {}


def cached_lpips(
    weights_dir: str, resize: int | None, device: torch.device, pooling: str = "avg"
) -> LPIPS:
    """One shared frozen :class:`LPIPS` per folder, resize, pooling and device."""
    key = (weights_dir, resize, pooling, str(device))
    if key not in _LPIPS_CACHE:
        _LPIPS_CACHE[key] = LPIPS(weights_dir, resize=resize, pooling=pooling).to(device)
    return _LPIPS_CACHE[key]


def write_random_weights(folder: str | os.PathLike, seed: int = 0) -> Path:
    """Randomly initialised LPIPS weights in the two files :class:`LPIPS` reads.

    For tests, smoke runs and speed benchmarks, where the perceptual quality of the distance does
    not matter but its cost and file handling do. Never use them to report a score.

    Parameters
    ----------
    folder : path-like
        Created if missing; receives ``vgg16_features.pth`` and ``lpips_vgg.pth``.
    seed : int, default 0

    Returns
    -------
    pathlib.Path
        ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        trunk = _vgg16_trunk().state_dict()
    torch.save(trunk, folder / LPIPS_TRUNK_FILE)
    heads = {
        f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) / c
        for i, c in enumerate(_LPIPS_CHANNELS)
    }
    torch.save(heads, folder / LPIPS_LINEAR_FILE)
    return folder
