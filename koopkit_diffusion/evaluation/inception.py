"""Inception-v3 pool3 features for FID, with the weights of the TF 2015-12-05 port.

FID (Heusel et al. 2017) is defined by one particular network: the TensorFlow Inception-v3
graph of 2015-12-05. Scores are comparable across papers only with that network and its input
protocol. This module rebuilds the network in PyTorch with the architecture of its widely used
port (the ``FIDInceptionA/C/E`` blocks of pytorch-fid: average pooling that ignores padding in
the A, C and first E blocks, max pooling in the last E block, a 1008-way classifier) and loads
the weights from a local file in that port's format, ``pt_inception-2015-12-05-6726825d.pth``.
Nothing is downloaded: the user provides the file (see :data:`WEIGHTS_URL`).

Input protocol (:func:`preprocess`): samples in ``[−1, 1]`` are quantised to uint8 as image files
would be (``x·127.5 + 128``, clipped, truncated — EDM's convention), scaled to ``[0, 1]``, resized
to 299×299 with bilinear interpolation, and mapped to ``[−1, 1]`` as the TF graph expects.
Grayscale images are repeated to three channels.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from koopkit.training import save_checkpoint
from koopkit_diffusion.evaluation.metrics import FeatureStats

__all__ = [
    "FEATURE_DIM",
    "WEIGHTS_FILENAME",
    "WEIGHTS_URL",
    "FIDInceptionV3",
    "inception_features",
    "inception_stats",
    "load_inception",
    "preprocess",
    "quantize_uint8",
    "write_random_inception_weights",
]

WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
#: Where the standard weights are published (release asset of github.com/mseitzer/pytorch-fid).
WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILENAME
)
FEATURE_DIM = 2048
INPUT_SIZE = 299


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (ε = 1e-3), ReLU; keys ``conv.*`` and ``bn.*``."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    # The TF graph averages over valid pixels only; torchvision's default counts the padding.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35×35 block (``Mixed_5b/c/d``): 1×1, 5×5, double 3×3 and pooled branches."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool(x))], 1)


class InceptionB(nn.Module):
    """Grid reduction 35→17 (``Mixed_6a``)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    """17×17 block with factorised 7×7 convolutions (``Mixed_6b/c/d/e``)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_avg_pool(x))], 1)


class InceptionD(nn.Module):
    """Grid reduction 17→8 (``Mixed_7a``)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for i in range(1, 5):
            b7 = getattr(self, f"branch7x7x3_{i}")(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8×8 block with expanded filter banks (``Mixed_7b``, ``Mixed_7c``).

    ``pool="avg"`` (padding ignored) in ``Mixed_7b`` and ``pool="max"`` in ``Mixed_7c``: the
    2015-12-05 graph differs there from the published architecture, and FID depends on it.
    """

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        if self.pool == "avg":
            pooled = _avg_pool(x)
        else:
            pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """Inception-v3 as in the TF 2015-12-05 graph used for FID, up to pool3 (2048-d).

    Module names equal the state-dict keys of ``pt_inception-2015-12-05-6726825d.pth``
    (``Conv2d_1a_3x3.conv.weight``, ``Mixed_5b.branch1x1.bn.running_mean``, ``fc.weight`` …).
    The 1008-way ``fc`` layer is kept so that the file loads by key name and for
    :meth:`logits`; FID uses :meth:`forward`.

    Call :func:`load_inception` to build it with weights; the constructor leaves the default
    random initialisation.
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(FEATURE_DIM, 1008)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """pool3 features.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, 3, 299, 299)
            Preprocessed images in ``[−1, 1]`` (see :func:`preprocess`).

        Returns
        -------
        torch.Tensor of shape (batch, 2048)
        """
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected input of shape (batch, 3, H, W), got {tuple(x.shape)}")
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, f"Mixed_{name}")(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """The 1008-way logits of the original graph from pool3 ``features`` (batch, 2048)."""
        return self.fc(features)


def load_inception(
    weights: str | os.PathLike, device: str | torch.device = "cpu"
) -> FIDInceptionV3:
    """Build :class:`FIDInceptionV3` and load its weights from a local file, in eval mode.

    Parameters
    ----------
    weights : path-like
        A state dict in the format of ``pt_inception-2015-12-05-6726825d.pth`` (parameter and
        buffer names as in :class:`FIDInceptionV3`; ``num_batches_tracked`` may be absent).
    device : str or torch.device, default "cpu"

    Returns
    -------
    FIDInceptionV3

    Raises
    ------
    FileNotFoundError
        If ``weights`` does not exist; the message names the standard file and where it is
        published.
    ValueError
        If keys are missing or unexpected, or shapes differ.
    """
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"Inception weights not found at {path}. FID needs the TF 2015-12-05 Inception-v3 "
            f"in PyTorch format, {WEIGHTS_FILENAME}, published with the pytorch-fid GitHub "
            f"releases: {WEIGHTS_URL} — download it once and pass its local path."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = FIDInceptionV3()
    expected = model.state_dict()
    given = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    needed = {k for k in expected if not k.endswith("num_batches_tracked")}
    missing, unexpected = sorted(needed - set(given)), sorted(set(given) - needed)
    if missing or unexpected:
        raise ValueError(
            f"{path} is not an Inception-v3 FID state dict: missing keys {missing[:5]}"
            f"{' …' if len(missing) > 5 else ''}, unexpected keys {unexpected[:5]}"
            f"{' …' if len(unexpected) > 5 else ''}"
        )
    for key, value in given.items():
        if value.shape != expected[key].shape:
            raise ValueError(
                f"{path}: {key} has shape {tuple(value.shape)}, "
                f"expected {tuple(expected[key].shape)}"
            )
    model.load_state_dict(given, strict=False)
    return model.eval().to(device)


def write_random_inception_weights(path: str | os.PathLike, seed: int = 0) -> Path:
    """Save a randomly initialised :class:`FIDInceptionV3` in the standard file format.

    For smoke tests and examples that exercise the FID code path without the real weights (the
    scores then mean nothing). The batch-norm statistics are set from 8 random images so that the
    features differ between images (PyTorch's default initialisation shrinks them to ~1e-7 and
    every score degenerates). The file has the keys of ``pt_inception-2015-12-05-6726825d.pth``
    (without ``num_batches_tracked``, as that file) and loads with :func:`load_inception`.

    Parameters
    ----------
    path : path-like
        Output file (its folder is created).
    seed : int, default 0

    Returns
    -------
    pathlib.Path
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = FIDInceptionV3()
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.reset_running_stats()
                module.momentum = None  # the running statistics become those of the batch
        with torch.no_grad():
            model.train()(preprocess(torch.rand(8, 3, 32, 32) * 2 - 1))
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    return save_checkpoint(state, path)


def quantize_uint8(images: torch.Tensor) -> torch.Tensor:
    """Samples in ``[−1, 1]`` to uint8 as saved images would be: ``⌊x·127.5 + 128⌋`` clipped.

    Parameters
    ----------
    images : torch.Tensor of shape (batch, C, H, W)
        Floating point, nominal range ``[−1, 1]`` (values outside are clipped).

    Returns
    -------
    torch.Tensor of dtype uint8, same shape
    """
    if not images.is_floating_point():
        raise ValueError(f"expected floating-point samples in [-1, 1], got dtype {images.dtype}")
    return (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """The FID input protocol: quantise, resize to 299×299 (bilinear), normalise to ``[−1, 1]``.

    Parameters
    ----------
    images : torch.Tensor of shape (batch, C, H, W) or (batch, H, W, C), C ∈ {1, 3}
        uint8 images in ``[0, 255]`` or floating-point samples in ``[−1, 1]`` (quantised first
        with :func:`quantize_uint8`). Channels-last arrays (as EDM's ``.npz`` sample files
        store them) are recognised when dimension 1 is not a channel count.

    Returns
    -------
    torch.Tensor of shape (batch, 3, 299, 299), float32 in ``[−1, 1]``
    """
    if images.ndim == 4 and images.shape[1] not in (1, 3) and images.shape[3] in (1, 3):
        images = images.permute(0, 3, 1, 2)
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(
            f"expected images of shape (batch, 1 or 3, H, W), got {tuple(images.shape)}"
        )
    if images.dtype != torch.uint8:
        images = quantize_uint8(images)
    x = images.to(torch.float32) / 255.0
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return 2.0 * x - 1.0


def _batches(images: torch.Tensor | np.ndarray | Iterable, batch_size: int) -> Iterable:
    if isinstance(images, (torch.Tensor, np.ndarray)):
        for start in range(0, images.shape[0], batch_size):
            yield images[start : start + batch_size]
    else:
        yield from images


def inception_stats(
    model: FIDInceptionV3,
    images: torch.Tensor | np.ndarray | Iterable,
    batch_size: int = 64,
    progress: bool = True,
) -> FeatureStats:
    """Streaming pool3 statistics of a set of images (never holds all features at once).

    Parameters
    ----------
    model : FIDInceptionV3
    images : tensor or ndarray of shape (n, C, H, W), or an iterable of such batches
        Samples in ``[−1, 1]`` or uint8 images (see :func:`preprocess`); memory-mapped arrays
        are read batch by batch.
    batch_size : int, default 64
        Used when ``images`` is an array.
    progress : bool, default True
        Show a tqdm bar.

    Returns
    -------
    FeatureStats
        ``.mean`` (2048,) and ``.covariance`` (2048, 2048) are the ``mu`` and ``sigma`` of FID.
    """
    stats = FeatureStats(FEATURE_DIM)
    for batch in tqdm(_batches(images, batch_size), desc="inception", disable=not progress):
        stats.update(inception_features(model, batch))
    return stats


@torch.no_grad()
def inception_features(model: FIDInceptionV3, images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """pool3 features of one batch after :func:`preprocess`.

    Parameters
    ----------
    model : FIDInceptionV3
    images : tensor or ndarray of shape (batch, C, H, W)

    Returns
    -------
    torch.Tensor of shape (batch, 2048), float32 on the CPU
    """
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    device = next(model.parameters()).device
    return model(preprocess(images.to(device))).float().cpu()
