"""What a teacher trains on: :class:`DataConfig`, the in-memory training set and image datasets.

Image data (CIFAR-10, image folders) stays as uint8 in memory — 150 MB for CIFAR-10, 0.86 GB for
70k images at 64×64 — and :class:`ImageDataset` converts each batch to float32 in ``[−1, 1]``
when the trainer asks for it, applying EDM's augmentation
(:func:`~koopkit_diffusion.data.augment.edm_augment`) when configured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from koopkit.config import ConfigMixin

from .augment import AUGMENT_DIM, edm_augment
from .images import cifar10, digits, image_folder, to_float
from .toy import TOY_2D, toy_2d

__all__ = [
    "DATA_NAMES",
    "IMAGE_DATA",
    "DataConfig",
    "ImageDataset",
    "image_dataset",
    "training_set",
]


#: Names :class:`DataConfig` accepts: the 2-D toys, digits, CIFAR-10 and image folders.
DATA_NAMES = (*TOY_2D, "digits", "cifar10", "image_folder")
_LABELLED = ("digits", "cifar10")
#: Data kept as uint8 and served by :class:`ImageDataset`.
IMAGE_DATA = ("cifar10", "image_folder")


@dataclass
class DataConfig(ConfigMixin):
    """Where a teacher's training data comes from (the ``data`` section of a teacher preset).

    Parameters
    ----------
    name : str
        One of :data:`DATA_NAMES`.
    n : int
        2-D toys: size of the fixed training set that is drawn once.
    seed : int
        2-D toys: seed of that draw.
    labels : bool
        Keep the class labels (``digits``, ``cifar10``): a class-conditional teacher.
    root : str or None
        ``cifar10``: the archive or its folder; ``image_folder``: the folder of images.
    resolution : int or None
        ``image_folder``: images are centre-cropped and resized to this square size.
    split : {"train", "test"}
        ``digits`` and ``cifar10``.
    augment : float
        ``cifar10`` and ``image_folder``: probability of EDM's augmentations (0: none; EDM uses
        0.12 for CIFAR-10, 0.15 for FFHQ and AFHQv2). The teacher then needs
        ``augment_dim = 9`` to see the augmentation labels.
    """

    name: str = "checkerboard"
    n: int = 1_000_000
    seed: int = 0
    labels: bool = False
    root: str | None = None
    resolution: int | None = None
    split: str = "train"
    augment: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field outside its valid range."""
        if self.name not in DATA_NAMES:
            raise ValueError(f"data name must be one of {DATA_NAMES}, got {self.name!r}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"data.n must be a positive integer, got {self.n!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"data.seed must be a non-negative integer, got {self.seed!r}")
        if self.labels and self.name not in _LABELLED:
            raise ValueError(f"data.labels=True needs labelled data {_LABELLED}, got {self.name!r}")
        if self.split not in ("train", "test"):
            raise ValueError(f"data.split must be 'train' or 'test', got {self.split!r}")
        if self.name in ("cifar10", "image_folder") and not self.root:
            raise ValueError(f"data {self.name!r} needs data.root (a local path)")
        if self.name == "image_folder" and not (self.resolution and self.resolution > 0):
            raise ValueError("data 'image_folder' needs a positive data.resolution")
        if not (math.isfinite(self.augment) and 0.0 <= self.augment <= 1.0):
            raise ValueError(f"data.augment must lie in [0, 1], got {self.augment!r}")
        if self.augment and self.name not in IMAGE_DATA:
            raise ValueError(f"data.augment applies to {IMAGE_DATA}, not {self.name!r}")

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample."""
        if self.name in TOY_2D:
            return (2,)
        if self.name == "digits":
            return (1, 8, 8)
        if self.name == "cifar10":
            return (3, 32, 32)
        return (3, int(self.resolution), int(self.resolution))

    @property
    def augment_dim(self) -> int:
        """Size of the augmentation labels the batches carry (9 with augmentation, else 0)."""
        return AUGMENT_DIM if self.augment else 0

    @property
    def label_dim(self) -> int:
        """Number of classes of the data as configured (0: no labels)."""
        return 10 if self.labels else 0


def training_set(config: DataConfig) -> dict[str, torch.Tensor]:
    """The whole training set of ``config`` in memory: ``{"sample"[, "label"]}``.

    Returns
    -------
    dict
        ``"sample"``: float32 ``(N, *config.shape)``; ``"label"``: int64 ``(N,)`` when
        ``config.labels``.
    """
    if config.name in TOY_2D:
        return {"sample": toy_2d(config.name, config.n, seed=config.seed)}
    if config.name == "digits":
        images, labels = digits(config.split)
    elif config.name == "cifar10":
        images, labels = cifar10(config.root, split=config.split)
    else:
        images, labels = image_folder(config.root, int(config.resolution))[0], None
    out = {"sample": images}
    if config.labels:
        out["label"] = labels
    return out


class ImageDataset:
    """uint8 images in memory, served as float32 batches in ``[−1, 1]``, optionally augmented.

    ``get_batch(indices)`` (what the trainer calls) converts and augments one batch at a time,
    so a training set costs one byte per pixel. The augmentation draws from a generator seeded
    by ``(seed, indices)``: a batch is augmented the same way whatever the process, the number
    of loader workers or an interruption and resume.

    Parameters
    ----------
    images : torch.Tensor of shape (N, C, H, W), uint8
    labels : torch.Tensor of shape (N,), int64, optional
        Class labels (a conditional teacher).
    augment : float, default 0.0
        Probability of EDM's augmentations (:func:`~koopkit_diffusion.data.augment.edm_augment`);
        with ``augment > 0`` batches carry ``"augment_labels"`` of shape (batch, 9).
    seed : int, default 0
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        augment: float = 0.0,
        seed: int = 0,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be uint8 of shape (N, C, H, W), got {images.dtype} "
                f"{tuple(images.shape)}"
            )
        if labels is not None and tuple(labels.shape) != (images.shape[0],):
            raise ValueError(
                f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}"
            )
        if not 0.0 <= augment <= 1.0:
            raise ValueError(f"augment must lie in [0, 1], got {augment}")
        self.images, self.labels = images, labels
        self.augment, self.seed = float(augment), int(seed)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample, ``(C, H, W)``."""
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.get_batch([index]).items()}

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """``{"sample"[, "label"][, "augment_labels"]}`` for an index array of shape (b,)."""
        idx = np.asarray(indices, dtype=np.int64)
        out = {"sample": to_float(self.images[torch.from_numpy(idx)])}
        if self.labels is not None:
            out["label"] = self.labels[torch.from_numpy(idx)]
        if self.augment:
            seed = np.random.SeedSequence([self.seed, *idx.tolist()]).generate_state(2)
            gen = torch.Generator().manual_seed(int(seed[0]) << 32 | int(seed[1]))
            out["sample"], out["augment_labels"] = edm_augment(out["sample"], self.augment, gen)
        return out


def image_dataset(config: DataConfig) -> ImageDataset:
    """The :class:`ImageDataset` of an image ``config`` (``cifar10`` or ``image_folder``).

    Returns
    -------
    ImageDataset
        uint8 images; labels when ``config.labels``; EDM's augmentation with
        ``config.augment``.
    """
    if config.name not in IMAGE_DATA:
        raise ValueError(f"image_dataset takes {IMAGE_DATA}, got {config.name!r}")
    if config.name == "cifar10":
        images, labels = cifar10(config.root, split=config.split, uint8=True)
    else:
        images, labels = image_folder(config.root, int(config.resolution), uint8=True)[0], None
    return ImageDataset(
        images, labels if config.labels else None, augment=config.augment, seed=config.seed
    )
