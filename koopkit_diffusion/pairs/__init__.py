"""Offline noise→sample pair datasets: generation, memory-mapped reading, verification, import.

A pair set is a directory with ``manifest.json`` and ``noise-*.npy`` / ``sample-*.npy`` (and
``label-*.npy``) shards; see :mod:`koopkit_diffusion.pairs.format` and the pair-set guide.

* :func:`generate_pairs` — run a teacher's Heun sampler; resumable, deterministic per pair,
  split over ``torchrun`` ranks;
* :class:`PairDataset` — memory-mapped torch ``Dataset`` with batched reads;
* :func:`verify`, :func:`info` — integrity check and summary;
* :func:`import_npz_per_pair`, :func:`import_torch_shards`, :func:`import_trajectories` —
  convert pair sets found in the wild, with the noise end stated by the caller.
"""

from .dataset import PairDataset, VerifyReport, info, verify
from .format import FORMAT_VERSION, PairSetWriter, new_manifest, read_manifest
from .generate import generate_pairs, pair_noise
from .importers import import_npz_per_pair, import_torch_shards, import_trajectories

__all__ = [
    "FORMAT_VERSION",
    "PairDataset",
    "PairSetWriter",
    "VerifyReport",
    "generate_pairs",
    "import_npz_per_pair",
    "import_torch_shards",
    "import_trajectories",
    "info",
    "new_manifest",
    "pair_noise",
    "read_manifest",
    "verify",
]
