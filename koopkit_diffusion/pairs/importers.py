"""Import pair sets found in the wild into the koopkit pair format.

Every importer is told which end of a pair is the noise (``noise_index`` / ``noise_key``) and by
how much that noise is scaled in the source (``noise_scale``: the importer divides by it, so the
stored noise is the unscaled ``ε``). Nothing is guessed: leaving either out is an error, and a
stated noise end whose values do not look like ``N(0, 1)`` after the division (standard
deviation outside ``[0.8, 1.25]`` or mean beyond ``±0.2`` over the first shard, when it has at
least 1000 values) is refused with a hint.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .format import PairSetWriter, new_manifest, read_manifest

__all__ = ["NPZ_KEYS", "import_npz_per_pair", "import_torch_shards", "import_trajectories"]

Chunk = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


def _require(value: Any, name: str, hint: str) -> None:
    if value is None:
        raise ValueError(f"{name} is required: {hint}; the importer never guesses it")


def _files(src: str | os.PathLike | Sequence[str | os.PathLike], suffix: str) -> list[Path]:
    if isinstance(src, (str, os.PathLike)):
        src = Path(src)
        if src.is_dir():
            files = sorted(src.glob(f"*{suffix}"))
        elif src.is_file():
            files = [src]
        else:
            raise FileNotFoundError(f"{src} not found (expected a directory of {suffix} files)")
    else:
        files = [Path(f) for f in src]
    if not files:
        raise FileNotFoundError(f"no {suffix} files in {src}")
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"{f} not found")
    return files


def _check_noise(noise: np.ndarray, noise_scale: float) -> None:
    if noise.size < 1000:
        return
    values = noise.astype(np.float64)
    std, mean = float(values.std()), float(values.mean())
    if not (0.8 <= std <= 1.25 and abs(mean) <= 0.2):
        raise ValueError(
            f"the stated noise end has mean {mean:.3g} and std {std:.3g} after dividing by "
            f"noise_scale={noise_scale}, not those of N(0, 1): check noise_index / noise_key "
            "(is the other end the noise?) and noise_scale (the factor the source multiplied "
            "the noise by, e.g. sigma_max = 80, or 1 for unscaled noise)"
        )


def _write(
    chunks: Iterable[Chunk],
    out_dir: str | os.PathLike,
    *,
    count: int,
    shape: tuple[int, ...],
    label_dim: int,
    noise_scale: float,
    sigma_max: float,
    shard_size: int,
    dtype: str,
    source: str,
    teacher_description: str,
    resume: bool,
    progress: bool,
) -> dict[str, Any]:
    if noise_scale is None or not noise_scale > 0:
        raise ValueError(f"noise_scale must be positive, got {noise_scale}")
    manifest = new_manifest(
        count=count,
        shard_size=shard_size,
        shape=shape,
        dtype=dtype,
        label_dim=label_dim,
        sigma_max=sigma_max,
        seed=None,
        teacher={"description": teacher_description, "state_sha256": None},
        sampler=None,
        source=source,
    )
    # The directory is touched only once the first shard has passed its checks, so a refused
    # import leaves nothing behind and can be rerun with corrected arguments.
    writer: PairSetWriter | None = None
    buffers: dict[str, list[np.ndarray]] = {"noise": [], "sample": [], "label": []}
    filled, index = 0, 0
    bar = tqdm(total=count, desc="import", unit="pair", disable=not progress)

    def flush(m: int) -> None:
        nonlocal filled, index, writer
        joined = {k: np.concatenate(v) for k, v in buffers.items() if v}
        shard = {k: v[:m] for k, v in joined.items()}
        if writer is None:
            _check_noise(shard["noise"], noise_scale)
            writer = PairSetWriter(out_dir, manifest, resume=resume)
        writer.write_shard(index, shard)
        for k in buffers:
            buffers[k] = [joined[k][m:]] if k in joined and len(joined[k]) > m else []
        filled -= m
        index += 1

    seen = 0
    for noise, sample, label in chunks:
        if noise.shape != sample.shape or noise.shape[1:] != shape:
            raise ValueError(
                f"noise and sample must both have shape (m, *{shape}), got {noise.shape} and "
                f"{sample.shape}"
            )
        if (label is None) != (label_dim == 0):
            raise ValueError(
                "the source has labels: pass label_dim (the number of classes)"
                if label is not None
                else f"label_dim={label_dim} but the source has no labels"
            )
        if label is not None:
            label = np.asarray(label, np.int64).reshape(-1)
            if label.shape[0] != noise.shape[0] or label.min() < 0 or label.max() >= label_dim:
                raise ValueError(f"labels must be {noise.shape[0]} integers in [0, {label_dim})")
            buffers["label"].append(label)
        buffers["noise"].append(np.asarray(noise, np.float64) / noise_scale)
        buffers["sample"].append(np.asarray(sample))
        filled += noise.shape[0]
        seen += noise.shape[0]
        bar.update(noise.shape[0])
        while filled >= shard_size:
            flush(shard_size)
    if filled:
        flush(filled)
    bar.close()
    if seen != count:
        raise ValueError(f"the source changed while importing: expected {count} pairs, read {seen}")
    return read_manifest(out_dir)


#: Keys under which released pair files store their ends (the KDM authors' sets use all three).
NPZ_KEYS = ("endpoints", "arr_0", "arr1")


def _label_of(value: np.ndarray, label_dim: int, path: Path) -> np.ndarray:
    """A file's ``label`` as an integer class: an integer, or a one-hot vector of label_dim."""
    if not label_dim:
        raise ValueError(f"{path} has labels: pass label_dim (the number of classes)")
    flat = np.asarray(value).reshape(-1)
    if flat.size == 1:
        if float(flat[0]) != round(float(flat[0])):
            raise ValueError(f"{path}: label {flat[0]} is not a whole class index")
        return flat.astype(np.int64)
    if flat.size == label_dim and np.isin(flat, (0, 1)).all() and flat.sum() == 1:
        return np.array([int(np.argmax(flat))], np.int64)
    raise ValueError(
        f"{path}: label of shape {np.shape(value)} is neither an integer class nor a one-hot "
        f"vector of label_dim={label_dim} entries"
    )


def import_npz_per_pair(
    src: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    noise_index: int | None = None,
    noise_scale: float | None = None,
    sample_index: int | None = None,
    key: str | None = None,
    sigma_max: float = 80.0,
    label_dim: int = 0,
    shard_size: int = 10_000,
    dtype: str = "float32",
    teacher_description: str = "imported",
    resume: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Import one ``.npz`` file per pair (the layout of the KDM authors' released sets).

    Each file holds an array of shape ``(T, *shape)`` under ``key``: the two ends of a pair
    (``T = 2``) or a whole trajectory (``T > 2``), and optionally a ``label``, an integer class or
    a one-hot vector of ``label_dim`` entries. Files are taken in sorted name order. The layouts
    of the released sets (which end is which differs between them, so it is always stated):

    ==================================  ======  ============================  ===============
    set                                 key     noise / sample index          label
    ==================================  ======  ============================  ===============
    CIFAR-10 unconditional (EDM)        arr_0   0 / −1                        —
    CIFAR-10 conditional (EDM)          endp…   1 / 0 (``[sample, noise]``)   one-hot, 10
    FFHQ, AFHQv2 64×64 (EDM)            arr_0   −1 / 0                        —
    CIFAR-10 flow matching              arr1    −1 / 0                        —
    ==================================  ======  ============================  ===============

    Parameters
    ----------
    src : path or sequence of paths
        A directory of ``*.npz`` files, or the files.
    out_dir : path
        Output pair set.
    noise_index : int
        Index of the noise along the file's first axis (negative counts from the end). Required.
    noise_scale : float
        The factor the noise carries in the files (``σmax`` for EDM's ``x_T = σmax·ε``, 1 if it
        stores ``ε``); the stored noise is ``end / noise_scale``. Required.
    sample_index : int, optional
        Index of the sample; by default the other end when ``T = 2``, required for trajectories.
    key : {"endpoints", "arr_0", "arr1"} or str, optional
        The array's key; by default the one of :data:`NPZ_KEYS` the first file holds.
    sigma_max : float, default 80.0
        σmax of the teacher, recorded as the set's ``sigma_max``.
    label_dim : int, default 0
        Number of classes; required (> 0) when the files carry ``label``.
    shard_size, dtype, teacher_description, resume, progress
        As in :func:`~koopkit_diffusion.pairs.generate.generate_pairs`.

    Returns
    -------
    dict
        The manifest of the imported set.
    """
    _require(noise_index, "noise_index", "state the index of the noise in each file (e.g. 0 or -1)")
    _require(noise_scale, "noise_scale", "state the factor the source noise carries (e.g. 80 or 1)")
    files = _files(src, ".npz")
    with np.load(files[0], allow_pickle=False) as z:
        found = [k for k in NPZ_KEYS if k in z.files]
        if key is None and len(found) != 1:
            raise ValueError(
                f"{files[0]} holds {z.files}: pass key= (one of {NPZ_KEYS} or another key)"
            )
        key = key if key is not None else found[0]
        if key not in z.files:
            raise ValueError(f"{files[0]}: no array {key!r}; the file holds {z.files}")
        length = z[key].shape[0] if z[key].ndim >= 2 else 0
    if length < 2:
        raise ValueError(f"{files[0]}: {key} must have shape (T >= 2, *shape)")
    if sample_index is None:
        if length != 2:
            raise ValueError(
                f"{files[0]}: {key} holds a trajectory of {length} states: state sample_index "
                "(e.g. -1 or 0) as well as noise_index"
            )
        sample_index = 1 - noise_index % 2
    for name, index in (("noise_index", noise_index), ("sample_index", sample_index)):
        if not -length <= index < length:
            raise ValueError(f"{name}={index} outside the {length} states of {key}")
    if noise_index % length == sample_index % length:
        raise ValueError("noise_index and sample_index name the same state")

    def read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        with np.load(path, allow_pickle=False) as z:
            if key not in z.files:
                raise ValueError(f"{path}: expected key {key!r}, found {z.files}")
            states = z[key]
            label = _label_of(z["label"], label_dim, path) if "label" in z.files else None
        if states.ndim < 2 or states.shape[0] != length:
            raise ValueError(
                f"{path}: {key} must have shape ({length}, *shape), got {states.shape}"
            )
        return states[noise_index][None], states[sample_index][None], label

    first = read(files[0])[0]

    def chunks() -> Iterator[Chunk]:
        for path in files:
            yield read(path)

    return _write(
        chunks(),
        out_dir,
        count=len(files),
        shape=tuple(first.shape[1:]),
        label_dim=label_dim,
        noise_scale=noise_scale,
        sigma_max=sigma_max,
        shard_size=shard_size,
        dtype=dtype,
        source=(
            f"import:npz-per-pair(key={key!r}, noise_index={noise_index}, "
            f"sample_index={sample_index}, noise_scale={noise_scale})"
        ),
        teacher_description=teacher_description,
        resume=resume,
        progress=progress,
    )


def import_torch_shards(
    src: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    noise_key: str | int | None = None,
    sample_key: str | int | None = None,
    noise_scale: float | None = None,
    label_key: str | int | None = None,
    sigma_max: float = 80.0,
    label_dim: int = 0,
    suffix: str = ".pt",
    shard_size: int = 10_000,
    dtype: str = "float32",
    teacher_description: str = "imported",
    resume: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Import ``torch.save`` shards of noises (or latents) and samples (images or latents).

    Each file is a dict (or tuple/list) of tensors with a leading batch dimension, loaded with
    ``torch.load(weights_only=True, mmap=True)``; files are taken in sorted name order.

    Parameters
    ----------
    src : path or sequence of paths
        A directory of ``*{suffix}`` files, or the files.
    out_dir : path
        Output pair set.
    noise_key, sample_key : str or int
        Keys (or tuple positions) of the noise tensor ``(m, *shape)`` and the sample tensor.
        Required.
    noise_scale : float
        Factor the stored noise carries (divided out). Required.
    label_key : str or int, optional
        Key of integer labels ``(m,)``; needs ``label_dim``.
    sigma_max, label_dim, shard_size, dtype, teacher_description, resume, progress
        As in :func:`import_npz_per_pair`.
    suffix : str, default ".pt"
        File suffix when ``src`` is a directory.

    Returns
    -------
    dict
        The manifest of the imported set.
    """
    import torch

    _require(noise_key, "noise_key", "state the key of the noise tensor in each file")
    _require(sample_key, "sample_key", "state the key of the sample tensor in each file")
    _require(noise_scale, "noise_scale", "state the factor the source noise carries (e.g. 80 or 1)")
    files = _files(src, suffix)

    def load(path: Path) -> Any:
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception as err:  # torch raises several types for foreign or broken files
            raise ValueError(f"{path}: not a torch.save file of tensors ({err})") from err

    def pick(obj: Any, key: str | int | None, path: Path) -> np.ndarray | None:
        if key is None:
            return None
        try:
            value = obj[key]
        except (KeyError, IndexError, TypeError) as err:
            keys = list(obj) if isinstance(obj, dict) else f"{len(obj)} positions"
            raise ValueError(f"{path}: no entry {key!r} (has {keys})") from err
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{path}: entry {key!r} is {type(value).__name__}, not a tensor")
        return value.detach().float().numpy() if key != label_key else value.numpy()

    counts, shape = [], None
    for path in files:
        noise = pick(load(path), noise_key, path)
        counts.append(noise.shape[0])
        shape = shape or tuple(noise.shape[1:])

    def chunks() -> Iterator[Chunk]:
        for path in files:
            obj = load(path)
            yield (
                pick(obj, noise_key, path),
                pick(obj, sample_key, path),
                pick(obj, label_key, path),
            )

    return _write(
        chunks(),
        out_dir,
        count=sum(counts),
        shape=shape,
        label_dim=label_dim,
        noise_scale=noise_scale,
        sigma_max=sigma_max,
        shard_size=shard_size,
        dtype=dtype,
        source=(
            f"import:torch-shards(noise_key={noise_key!r}, sample_key={sample_key!r}, "
            f"label_key={label_key!r}, noise_scale={noise_scale})"
        ),
        teacher_description=teacher_description,
        resume=resume,
        progress=progress,
    )


def import_trajectories(
    src: str | os.PathLike | np.ndarray,
    out_dir: str | os.PathLike,
    *,
    noise_index: int | None = None,
    sample_index: int | None = None,
    noise_scale: float | None = None,
    labels: np.ndarray | None = None,
    sigma_max: float = 80.0,
    label_dim: int = 0,
    shard_size: int = 10_000,
    dtype: str = "float32",
    teacher_description: str = "imported",
    resume: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Import teacher trajectories: an array of shape ``(T, N, *shape)``.

    Parameters
    ----------
    src : path or ndarray
        A ``.npy`` file (memory-mapped) or an array of shape ``(T, N, *shape)``;
        ``src[t, i]`` is the state of trajectory ``i`` at time index ``t``.
    out_dir : path
        Output pair set.
    noise_index, sample_index : int
        Time indices of the noise and of the sample (negative counts from the end, e.g.
        ``noise_index=0, sample_index=-1``). Required.
    noise_scale : float
        Factor the state at ``noise_index`` carries (``σmax`` for ``x_T = σmax·ε``). Required.
    labels : ndarray of shape (N,), optional
        Integer classes; needs ``label_dim``.
    sigma_max, label_dim, shard_size, dtype, teacher_description, resume, progress
        As in :func:`import_npz_per_pair`.

    Returns
    -------
    dict
        The manifest of the imported set.
    """
    _require(noise_index, "noise_index", "state the time index of the noise (e.g. 0)")
    _require(sample_index, "sample_index", "state the time index of the sample (e.g. -1)")
    _require(noise_scale, "noise_scale", "state the factor the noise state carries (e.g. 80)")
    if isinstance(src, (str, os.PathLike)):
        if not Path(src).is_file():
            raise FileNotFoundError(f"{src} not found (expected a .npy array (T, N, *shape))")
        traj = np.load(src, mmap_mode="r")
    else:
        traj = np.asarray(src)
    if traj.ndim < 3:
        raise ValueError(f"trajectories must have shape (T, N, *shape), got {traj.shape}")
    n_time, count = traj.shape[:2]
    for name, t in (("noise_index", noise_index), ("sample_index", sample_index)):
        if not -n_time <= t < n_time:
            raise ValueError(f"{name}={t} outside the {n_time} time indices")
    if noise_index % n_time == sample_index % n_time:
        raise ValueError("noise_index and sample_index name the same time index")
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != count:
            raise ValueError(f"labels must have shape ({count},), got {labels.shape}")
    step = max(1, min(shard_size, 4096))

    def chunks() -> Iterator[Chunk]:
        for a in range(0, count, step):
            b = min(a + step, count)
            label = None if labels is None else labels[a:b]
            yield np.asarray(traj[noise_index, a:b]), np.asarray(traj[sample_index, a:b]), label

    return _write(
        chunks(),
        out_dir,
        count=count,
        shape=tuple(traj.shape[2:]),
        label_dim=label_dim,
        noise_scale=noise_scale,
        sigma_max=sigma_max,
        shard_size=shard_size,
        dtype=dtype,
        source=(
            f"import:trajectories(noise_index={noise_index}, sample_index={sample_index}, "
            f"noise_scale={noise_scale})"
        ),
        teacher_description=teacher_description,
        resume=resume,
        progress=progress,
    )
