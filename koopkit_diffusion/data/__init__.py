"""The data wing: toy 2-D sets, digits, CIFAR-10, image folders, and what teachers train on.

Nothing is downloaded: the toy sets are generated, the digits come with scikit-learn, CIFAR-10 is
read from the official archive the user already has (with a restricted unpickler and the
archive's md5), image folders from disk. Images are float32 ``(N, C, H, W)`` in ``[−1, 1]``, or
uint8; 2-D samples float32 ``(n, 2)``.

* :mod:`~koopkit_diffusion.data.toy` — :func:`checkerboard` and the other toys, the checkerboard's
  exact denoiser;
* :mod:`~koopkit_diffusion.data.images` — :func:`digits`, :func:`cifar10`, :func:`image_folder`,
  :func:`to_float`;
* :mod:`~koopkit_diffusion.data.augment` — EDM's augmentation and its 9 labels;
* :mod:`~koopkit_diffusion.data.config` — :class:`DataConfig` (a teacher preset's ``data``
  section), :func:`training_set`, :class:`ImageDataset` and :func:`image_dataset`.
"""

from .augment import AUGMENT_DIM, edm_augment
from .config import DATA_NAMES, IMAGE_DATA, DataConfig, ImageDataset, image_dataset, training_set
from .images import CIFAR10_ARCHIVE, CIFAR10_ARCHIVE_MD5, cifar10, digits, image_folder, to_float
from .toy import (
    TOY_2D,
    checkerboard,
    checkerboard_denoiser,
    eight_gaussians,
    moons,
    swiss_roll,
    toy_2d,
)

__all__ = [
    "AUGMENT_DIM",
    "CIFAR10_ARCHIVE",
    "CIFAR10_ARCHIVE_MD5",
    "DATA_NAMES",
    "DataConfig",
    "IMAGE_DATA",
    "ImageDataset",
    "TOY_2D",
    "edm_augment",
    "checkerboard",
    "checkerboard_denoiser",
    "cifar10",
    "digits",
    "eight_gaussians",
    "image_dataset",
    "image_folder",
    "moons",
    "swiss_roll",
    "to_float",
    "toy_2d",
    "training_set",
]
