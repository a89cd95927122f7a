"""Image data: scikit-learn's digits, CIFAR-10 from its official archive, folders of images.

Nothing is downloaded: CIFAR-10 is read from the archive the user already has (its python batches
are pickles, read with a restricted unpickler that admits numpy arrays and nothing else, and the
official archive is checked against its published md5), image folders from disk, digits from the
copy bundled with scikit-learn. Images are float32 ``(N, C, H, W)`` in ``[−1, 1]``, or uint8.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import torch

from koopkit_diffusion.safe_pickle import NUMPY_ARRAY_GLOBALS, UnsafePickleError, restricted_loads

__all__ = [
    "CIFAR10_ARCHIVE",
    "CIFAR10_ARCHIVE_MD5",
    "cifar10",
    "digits",
    "image_folder",
    "to_float",
]


def digits(split: str = "train", test_fraction: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 8×8 handwritten digits (1797 images, 10 classes), scaled to ``[−1, 1]``.

    The split is fixed (stratified by class, ``random_state=0``): with the default
    ``test_fraction`` 1437 training and 360 test images.

    Parameters
    ----------
    split : {"train", "test", "all"}, default "train"
    test_fraction : float, default 0.2

    Returns
    -------
    images : torch.Tensor of shape (N, 1, 8, 8), float32 in [−1, 1]
        Pixel values ``v ∈ {0, …, 16}`` mapped to ``v/8 − 1``.
    labels : torch.Tensor of shape (N,), int64
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 8.0 - 1.0
    labels = bunch.target.astype(np.int64)
    if split != "all":
        idx_train, idx_test = train_test_split(
            np.arange(len(labels)), test_size=test_fraction, random_state=0, stratify=labels
        )
        idx = np.sort(idx_train if split == "train" else idx_test)
        images, labels = images[idx], labels[idx]
    return torch.from_numpy(np.ascontiguousarray(images[:, None])), torch.from_numpy(labels)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels ``u`` -> float32 ``u/127.5 − 1`` in [−1, 1] (same shape)."""
    if images.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 tensor, got {images.dtype}")
    return images.float().div_(127.5).sub_(1.0)


#: File name of the official CIFAR-10 python archive, and its published md5
#: (https://www.cs.toronto.edu/~kriz/cifar.html).
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"

_CIFAR_FORMAT = (
    "the CIFAR-10 python version: cifar-10-python.tar.gz or its extracted cifar-10-batches-py/ "
    "holding data_batch_1..5 and test_batch, pickled dicts with b'data' (uint8, N x 3072) and "
    "b'labels'"
)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_official_archive(path: Path) -> None:
    """A file named like the official archive must be it: its md5 is checked."""
    if path.name != CIFAR10_ARCHIVE:
        return
    found = _md5(path)
    if found != CIFAR10_ARCHIVE_MD5:
        raise ValueError(
            f"{path} is named like the official CIFAR-10 archive but its md5 is {found}, not the "
            f"published {CIFAR10_ARCHIVE_MD5}: the download is damaged or the file was altered. "
            "Download it again, or give a self-made archive another name."
        )


def _cifar_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Decode one python batch with the restricted unpickler (numpy arrays, nothing else)."""
    try:
        batch = restricted_loads(raw, NUMPY_ARRAY_GLOBALS, where, encoding="bytes")
    except UnsafePickleError:
        raise
    except ValueError as err:
        reason = err.__cause__ or err
        raise ValueError(
            f"{where}: malformed CIFAR-10 batch, not a readable pickle ({reason}); "
            f"expected {_CIFAR_FORMAT}"
        ) from err
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(
            f"{where}: malformed CIFAR-10 batch (found {keys}); expected {_CIFAR_FORMAT}"
        )
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        kind = getattr(data, "dtype", type(data).__name__)
        raise ValueError(f"{where}: b'data' is {kind}, not a uint8 array; expected {_CIFAR_FORMAT}")
    if not (
        isinstance(labels, (list, np.ndarray))
        and all(isinstance(v, (int, np.integer)) for v in labels)
    ):
        raise ValueError(f"{where}: b'labels' is not a list of integers; expected {_CIFAR_FORMAT}")
    labels = np.asarray(labels, dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise ValueError(
            f"{where}: b'data' has shape {data.shape} and b'labels' {labels.shape}; expected "
            f"(N, 3072) and (N,) ({_CIFAR_FORMAT})"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{where}: labels outside [0, 9]; expected {_CIFAR_FORMAT}")
    return data, labels


def cifar10(
    root: str | Path, split: str = "train", uint8: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from the official python-version archive, without downloading anything.

    The batches are pickles by format: they are read with
    :class:`~koopkit_diffusion.safe_pickle.RestrictedUnpickler`, which admits numpy array
    reconstruction and plain containers only, so a crafted batch cannot run code. A file named
    ``cifar-10-python.tar.gz`` is checked against the official archive's md5.

    Parameters
    ----------
    root : path
        ``cifar-10-python.tar.gz`` itself (or any ``.tar``/``.tar.gz`` of the same layout), its
        extracted ``cifar-10-batches-py/`` directory, or a directory containing either.
    split : {"train", "test"}, default "train"
        ``data_batch_1`` … ``data_batch_5`` (50000 images) or ``test_batch`` (10000).
    uint8 : bool, default False
        Return the raw uint8 pixels (150 MB for the training split instead of 600 MB); convert
        batches with :func:`to_float`.

    Returns
    -------
    images : torch.Tensor of shape (N, 3, 32, 32)
        float32 ``u/127.5 − 1`` in [−1, 1] of the uint8 pixels ``u``, or ``u`` itself.
    labels : torch.Tensor of shape (N,), int64 in [0, 9]

    Raises
    ------
    FileNotFoundError
        If neither the archive nor the batches are found, or a batch is missing.
    ValueError
        If a batch is not the official format (naming the file), the official archive's md5
        differs, or a batch names anything but numpy arrays
        (:class:`~koopkit_diffusion.safe_pickle.UnsafePickleError`).
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    root = Path(root)
    candidates = [root, root / "cifar-10-batches-py", root / CIFAR10_ARCHIVE]
    source = next((c for c in candidates if c.is_file() or (c / names[0]).is_file()), None)
    if source is None:
        raise FileNotFoundError(f"no CIFAR-10 data at {root}; expected {_CIFAR_FORMAT}")
    parts = []
    if source.is_dir():
        for name in names:
            path = source / name
            if not path.is_file():
                raise FileNotFoundError(f"missing {path}; expected {_CIFAR_FORMAT}")
            parts.append(_cifar_batch(path.read_bytes(), str(path)))
    else:
        _check_official_archive(source)
        try:
            with tarfile.open(source, "r:*") as tar:
                members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
                for name in names:
                    if name not in members:
                        raise FileNotFoundError(
                            f"{source} has no member {name}; expected {_CIFAR_FORMAT}"
                        )
                    raw = tar.extractfile(members[name]).read()
                    parts.append(_cifar_batch(raw, f"{source}:{members[name].name}"))
        except tarfile.TarError as err:
            raise ValueError(
                f"{source} is not a readable tar archive ({err}); expected {_CIFAR_FORMAT}"
            ) from err
    data = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32))
    return (images if uint8 else to_float(images)), torch.from_numpy(labels)


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def image_folder(
    root: str | Path, resolution: int, limit: int | None = None, uint8: bool = False
) -> tuple[torch.Tensor, list[str]]:
    """Images of a folder tree (FFHQ / AFHQ style PNG or JPEG), resized to a square resolution.

    Files are found recursively and sorted by relative path. Each image is converted to RGB,
    centre-cropped to a square and resized with a Lanczos filter (PIL) when its size differs.

    Parameters
    ----------
    root : path
        Directory containing ``.png`` / ``.jpg`` / ``.jpeg`` files (any depth).
    resolution : int
        Output height = width.
    limit : int, optional
        Read only the first ``limit`` files (in sorted order).
    uint8 : bool, default False
        Return uint8 pixels (4× less memory: 70k FFHQ images at 64×64 take 0.86 GB); convert
        batches with :func:`to_float`.

    Returns
    -------
    images : torch.Tensor of shape (N, 3, resolution, resolution)
        float32 in [−1, 1], or uint8 pixels.
    paths : list of str
        Relative paths of the files, in the order of ``images`` (e.g. to derive class labels from
        AFHQ's ``cat/``, ``dog/``, ``wild/`` sub-folders).

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a directory or holds no image file.
    ValueError
        If a file cannot be decoded as an image.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if int(resolution) != resolution or resolution < 1:
        raise ValueError(f"resolution must be a positive integer, got {resolution}")
    if not root.is_dir():
        raise FileNotFoundError(
            f"image folder {root} does not exist; expected a directory of PNG/JPEG files"
        )
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    if limit is not None:
        files = files[:limit]
    if not files:
        raise FileNotFoundError(f"no .png/.jpg/.jpeg files under {root}")
    out = np.empty((len(files), 3, resolution, resolution), dtype=np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(io.BytesIO(path.read_bytes())) as img:
                img = img.convert("RGB")
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"{path} is not a readable PNG/JPEG image ({err})") from err
        w, h = img.size
        side = min(w, h)
        if w != h:
            left, top = (w - side) // 2, (h - side) // 2
            img = img.crop((left, top, left + side, top + side))
        if side != resolution:
            img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
        out[i] = np.asarray(img).transpose(2, 0, 1)
    images = torch.from_numpy(out)
    return (images if uint8 else to_float(images)), [p.relative_to(root).as_posix() for p in files]
