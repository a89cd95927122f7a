"""Process-group setup under ``torchrun`` and the RNG states that a checkpoint carries."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "DistContext",
    "setup_distributed",
    "broadcast_module",
    "rng_state",
    "set_rng_state",
    "seed_process",
    "gather_rng_states",
]


@dataclass
class DistContext:
    """Where this process stands: rank, world size and device.

    ``owns_group`` is true when :func:`setup_distributed` created the process group (and so
    :meth:`close` destroys it); a group the caller initialised is left alone.
    """

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool

    @property
    def distributed(self) -> bool:
        """More than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes logs, checkpoints and figures."""
        return self.rank == 0

    def barrier(self) -> None:
        """Wait for every process (no-op in a single process)."""
        if self.distributed:
            if self.device.type == "cuda":
                dist.barrier(device_ids=[self.device.index])
            else:
                dist.barrier()

    def close(self) -> None:
        """Destroy the process group if :func:`setup_distributed` created it."""
        if self.owns_group and dist.is_initialized():
            # Without a barrier, the rank that hosts the rendezvous store can tear it down while
            # another rank still talks to it (seen as a C++ abort at exit under load).
            self.barrier()
            dist.destroy_process_group()
            self.owns_group = False


def setup_distributed(device: str) -> DistContext:
    """Join the process group described by ``torchrun``'s environment, if any.

    ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
    ``MASTER_PORT``; with ``WORLD_SIZE > 1`` the group is initialised from them (``nccl`` on
    CUDA, ``gloo`` on CPU) unless the caller already did. Without them training runs in one
    process.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        Requested device.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but torch.cuda.is_available() is False")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda":
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    owns = False
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend=backend, init_method="env://", **kwargs)
        owns = True
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistContext(rank, world_size, local_rank, dev, owns)


def broadcast_module(module: torch.nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every rank (before the EMA copy is taken)."""
    if ctx.distributed:
        with torch.no_grad():
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)


def seed_process(seed: int, rank: int) -> None:
    """Seed torch (CPU and CUDA), NumPy and Python for process ``rank`` from ``(seed, rank)``.

    Ranks draw different noise; the model's initial weights come from rank 0 through DDP.
    """
    state = np.random.SeedSequence([seed, rank]).generate_state(2)
    value = int(state[0]) << 32 | int(state[1])
    random.seed(value)
    np.random.seed(int(state[0]))  # noqa: NPY002 (code in models may use the legacy global state)
    torch.manual_seed(value)


def rng_state(device: torch.device) -> dict[str, Any]:
    """The global RNG states of this process, as tensors and plain Python values.

    Everything in it loads with ``torch.load(..., weights_only=True)``.
    """
    kind, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    version, py_state, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "state": list(py_state), "gauss": gauss},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"].cpu())
    np_state = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)


def gather_rng_states(ctx: DistContext) -> list[dict[str, Any]]:
    """Every process's RNG state, in rank order (collective: all ranks must call it)."""
    local = rng_state(ctx.device)
    if not ctx.distributed:
        return [local]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, local)
    return gathered
