"""Offline noise→sample pair datasets: generation, memory-mapped reading, verification, import.

A pair set is a directory with ``manifest.json`` and ``noise-*.npy`` / ``sample-*.npy`` (and
``label-*.npy``) shards; see :mod:`koopkit_diffusion.pairs.format` and the pair-set guide.

* :func:`generate_pairs` — run a teacher's Heun sampler; resumable, deterministic per pair,
  split over ``torchrun`` ranks;
* :class:`PairDataset` — memory-mapped torch ``Dataset`` with batched reads;
* :func:`verify`, :func:`manifest_problems`, :func:`info` — integrity checks and summary;
* :func:`import_npz_per_pair`, :func:`import_torch_shards`, :func:`import_trajectories` —
  convert pair sets found in the wild, with the noise end stated by the caller.
"""

from .dataset import PairDataset
from .format import FORMAT_VERSION, PairSetWriter, new_manifest, read_manifest
from .generate import generate_pairs, pair_noise
from .importers import import_npz_per_pair, import_torch_shards, import_trajectories
from .integrity import VerifyReport, info, manifest_problems, verify

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
    "manifest_problems",
    "new_manifest",
    "pair_noise",
    "read_manifest",
    "verify",
]
