"""Data sources: toy 2-D distributions, scikit-learn's digits, CIFAR-10 and image folders.

Nothing is downloaded: CIFAR-10 is read from the official archive the user already has, image
folders from disk, digits from the copy bundled with scikit-learn. Images are returned as float32
tensors of shape ``(N, C, H, W)`` scaled to ``[−1, 1]``; 2-D samples as float32 ``(n, 2)``.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "DATA_NAMES",
    "DataConfig",
    "TOY_2D",
    "checkerboard",
    "checkerboard_denoiser",
    "cifar10",
    "digits",
    "eight_gaussians",
    "image_folder",
    "moons",
    "swiss_roll",
    "to_float",
    "toy_2d",
    "training_set",
]


def _check_n(n: int) -> int:
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    return int(n)


def _as_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def checkerboard(n: int, seed: int = 0) -> torch.Tensor:
    """4×4 checkerboard: ``x1 ~ U[−2, 2]``, ``x2 = U[0, 1] − 2B + (⌊x1⌋ mod 2)``, ``B ~ Bern(½)``.

    Both coordinates are divided by 0.45 (the scale of the KDM experiments, Berman et al. 2025).

    Parameters
    ----------
    n : int
        Number of samples.
    seed : int, default 0

    Returns
    -------
    torch.Tensor of shape (n, 2), float32
    """
    rng = np.random.default_rng(seed)
    n = _check_n(n)
    x1 = rng.uniform(-2.0, 2.0, n)
    x2 = rng.uniform(0.0, 1.0, n) - 2.0 * rng.integers(0, 2, n) + np.floor(x1) % 2
    return _as_tensor(np.stack([x1, x2], axis=1) / 0.45)


def checkerboard_denoiser() -> Callable[..., torch.Tensor]:
    """Exact optimal denoiser ``D(x, σ) = E[y | y + σn = x]`` of :func:`checkerboard`.

    The checkerboard is uniform on 8 squares ``S_k = [a_k, a_k + w] × [b_k, b_k + w]``
    (``w = 1/0.45``). Given ``x``, square ``k`` has posterior weight ``∝ Π_d (Φ(β_d) − Φ(α_d))``
    with ``α_d = (a_{k,d} − x_d)/σ``, ``β_d = α_d + w/σ``, and within it each coordinate is a
    truncated normal with mean ``x_d + σ(φ(α_d) − φ(β_d))/(Φ(β_d) − Φ(α_d))``. Computed in
    float64 with log-space masses, so it is stable for all ``σ > 0``. An analytic teacher:
    running :func:`koopkit_diffusion.edm.sampler.heun_sample` on it isolates the sampler's
    discretisation error.

    Returns
    -------
    callable
        ``denoiser(x, sigma, labels=None)`` with ``x`` of shape (batch, 2) and ``sigma`` of shape
        (batch,); returns (batch, 2) in the dtype of ``x``.
    """
    w = 1.0 / 0.45
    corners = (
        torch.tensor(
            [(i, j) for i in range(-2, 2) for j in range(-2, 2) if (i + j) % 2 == 0],
            dtype=torch.float64,
        )
        * w
    )
    log_sqrt_2pi = 0.5 * np.log(2 * np.pi)

    def log_mass(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        # log(Φ(β) − Φ(α)) for β > α; evaluated on the side where both tails are small.
        flip = alpha > 0
        a, b = torch.where(flip, -beta, alpha), torch.where(flip, -alpha, beta)
        log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
        return log_b + torch.log1p(-torch.exp(log_a - log_b).clamp(max=1 - 1e-16))

    def denoise(x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor | None = None):
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"x must have shape (batch, 2), got {tuple(x.shape)}")
        s = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).reshape(-1, 1, 1)
        xx = x.to(torch.float64)[:, None, :]
        alpha = (corners.to(x.device)[None] - xx) / s
        beta = alpha + w / s
        log_z = log_mass(alpha, beta)
        log_phi_a = -0.5 * alpha**2 - log_sqrt_2pi
        log_phi_b = -0.5 * beta**2 - log_sqrt_2pi
        mean = xx + s * (torch.exp(log_phi_a - log_z) - torch.exp(log_phi_b - log_z))
        weight = torch.softmax(log_z.sum(-1), dim=1)
        return (weight[..., None] * mean).sum(1).to(x.dtype)

    return denoise


def eight_gaussians(n: int, seed: int = 0) -> torch.Tensor:
    """Mixture of 8 Gaussians (std 0.5) centred on a circle of radius 4, all divided by √2.

    The toy set of Grathwohl et al., "FFJORD" (ICLR 2019).

    Returns
    -------
    torch.Tensor of shape (n, 2), float32
    """
    rng = np.random.default_rng(seed)
    n = _check_n(n)
    angles = np.pi / 4 * rng.integers(0, 8, n)
    centres = 4.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _as_tensor((centres + 0.5 * rng.standard_normal((n, 2))) / 1.414)


def moons(n: int, seed: int = 0, noise: float = 0.1) -> torch.Tensor:
    """Two interleaving half circles (scikit-learn ``make_moons``), as ``2·x + (−1, −0.2)``.

    Returns
    -------
    torch.Tensor of shape (n, 2), float32
    """
    from sklearn.datasets import make_moons

    x, _ = make_moons(_check_n(n), noise=noise, random_state=seed)
    return _as_tensor(2.0 * x + np.array([-1.0, -0.2]))


def swiss_roll(n: int, seed: int = 0, noise: float = 1.0) -> torch.Tensor:
    """2-D Swiss roll: coordinates (x, z) of scikit-learn's ``make_swiss_roll``, divided by 5.

    Returns
    -------
    torch.Tensor of shape (n, 2), float32
    """
    from sklearn.datasets import make_swiss_roll

    x, _ = make_swiss_roll(_check_n(n), noise=noise, random_state=seed)
    return _as_tensor(x[:, [0, 2]] / 5.0)


TOY_2D: dict[str, Callable[..., torch.Tensor]] = {
    "checkerboard": checkerboard,
    "eight_gaussians": eight_gaussians,
    "moons": moons,
    "swiss_roll": swiss_roll,
}


def toy_2d(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` samples of the toy distribution ``name`` (a key of :data:`TOY_2D`).

    Returns
    -------
    torch.Tensor of shape (n, 2), float32
    """
    if name not in TOY_2D:
        raise ValueError(f"unknown toy distribution {name!r}; expected one of {sorted(TOY_2D)}")
    return TOY_2D[name](n, seed=seed)


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
    return _as_tensor(images[:, None]), torch.from_numpy(labels)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels ``u`` -> float32 ``u/127.5 − 1`` in [−1, 1] (same shape)."""
    if images.dtype != torch.uint8:
        raise ValueError(f"expected a uint8 tensor, got {images.dtype}")
    return images.float().div_(127.5).sub_(1.0)


_CIFAR_FORMAT = (
    "the CIFAR-10 python version: cifar-10-python.tar.gz or its extracted cifar-10-batches-py/ "
    "holding data_batch_1..5 and test_batch, pickled dicts with b'data' (uint8, N x 3072) and "
    "b'labels'"
)


def _cifar_batch(raw: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        batch = pickle.loads(raw, encoding="bytes")  # the official (trusted) format is a pickle
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except Exception as err:
        raise ValueError(
            f"{where}: malformed CIFAR-10 batch ({err}); expected {_CIFAR_FORMAT}"
        ) from err
    if data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise ValueError(
            f"{where}: b'data' has shape {data.shape} and b'labels' {labels.shape}; expected "
            f"(N, 3072) and (N,) ({_CIFAR_FORMAT})"
        )
    return data, labels


def cifar10(
    root: str | Path, split: str = "train", uint8: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from the official python-version archive, without downloading anything.

    Parameters
    ----------
    root : path
        ``cifar-10-python.tar.gz`` itself, its extracted ``cifar-10-batches-py/`` directory, or a
        directory containing either.
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
        If a batch is not the official pickle format.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    root = Path(root)
    candidates = [root, root / "cifar-10-batches-py", root / "cifar-10-python.tar.gz"]
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


#: Names :class:`DataConfig` accepts: the 2-D toys, digits, CIFAR-10 and image folders.
DATA_NAMES = (*TOY_2D, "digits", "cifar10", "image_folder")
_LABELLED = ("digits", "cifar10")


@dataclass
class DataConfig:
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
    """

    name: str = "checkerboard"
    n: int = 1_000_000
    seed: int = 0
    labels: bool = False
    root: str | None = None
    resolution: int | None = None
    split: str = "train"

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
    def label_dim(self) -> int:
        """Number of classes of the data as configured (0: no labels)."""
        return 10 if self.labels else 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DataConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown DataConfig fields {unknown}; valid: {sorted(names)}")
        return cls(**values)


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
