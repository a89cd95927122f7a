"""The operator interface and the unstructured parameterizations (dense, low-rank)."""

from __future__ import annotations

import math

import torch
from torch import nn

from koopkit.spectrum import sort_eigenvalues

__all__ = ["KoopmanOperator", "DenseOperator", "LowRankOperator"]


def _check_dim(dim: int, name: str = "dim") -> int:
    if isinstance(dim, bool) or int(dim) != dim or dim < 1:
        raise ValueError(f"{name} must be a positive integer, got {dim!r}")
    return int(dim)


def _sort_eigenvalues(values: torch.Tensor) -> torch.Tensor:
    """Order of :func:`koopkit.spectrum.sort_eigenvalues` (modulus descending, pairs together)."""
    order = sort_eigenvalues(values.detach().cpu().numpy())
    return values[torch.as_tensor(order, device=values.device)]


class KoopmanOperator(nn.Module):
    """Base class of the learnable Koopman operators: ``z ↦ z @ K.T + b``.

    Subclasses implement :meth:`matrix` and may override :meth:`_linear` (the bias-free step)
    and :meth:`eigenvalues` with faster structured versions.

    Parameters
    ----------
    dim : int
        Latent dimension.
    bias : bool, default False
        Add a learnable affine term ``b`` of shape ``(dim,)``, initialised to zero.

    Attributes
    ----------
    dim : int
    bias : torch.nn.Parameter of shape (dim,) or None
    """

    def __init__(self, dim: int, bias: bool = False) -> None:
        super().__init__()
        self.dim = _check_dim(dim)
        if bias:
            self.bias = nn.Parameter(torch.zeros(self.dim))
        else:
            self.register_parameter("bias", None)

    def matrix(self) -> torch.Tensor:
        """The operator ``K`` as a real matrix of shape ``(dim, dim)``; a step is ``z @ K.T``."""
        raise TypeError(f"{type(self).__name__} does not define matrix()")

    def _linear(self, z: torch.Tensor) -> torch.Tensor:
        return z @ self.matrix().T

    def _check_input(self, z: torch.Tensor) -> None:
        if not isinstance(z, torch.Tensor):
            raise ValueError(f"z must be a torch.Tensor of shape (batch, {self.dim})")
        want = next(self.parameters(), z).dtype  # the operator's; autocast mixes on purpose
        ok = z.is_floating_point() and (z.dtype == want or torch.is_autocast_enabled(z.device.type))
        if z.ndim < 1 or z.shape[-1] != self.dim or not ok:
            msg = f"z must have shape (batch, {self.dim}) (last axis = dim) and dtype {want}, got"
            raise ValueError(f"{msg} {tuple(z.shape)} {z.dtype}")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """One step ``z @ K.T + b``.

        Parameters
        ----------
        z : torch.Tensor of shape (batch, dim)
            Latent states as rows (extra leading axes are allowed).

        Returns
        -------
        torch.Tensor of the same shape as ``z``
        """
        self._check_input(z)
        out = self._linear(z)
        if self.bias is not None:
            out = out + self.bias
        return out

    def eigenvalues(self) -> torch.Tensor:
        """Discrete-time (per-step) eigenvalues of :meth:`matrix`, shape ``(dim,)``, complex.

        Sorted as in :func:`koopkit.spectrum.sort_eigenvalues` (modulus descending, then
        ``|phase|`` ascending, conjugate pairs adjacent). The bias does not enter.
        """
        return _sort_eigenvalues(torch.linalg.eigvals(self.matrix()))

    def rollout(self, z: torch.Tensor, steps: int) -> torch.Tensor:
        """Apply the operator ``steps`` times.

        Parameters
        ----------
        z : torch.Tensor of shape (batch, dim)
            Initial latent states.
        steps : int
            Number of steps (``0`` returns ``z`` alone).

        Returns
        -------
        torch.Tensor of shape (steps + 1, batch, dim)
            ``out[k] = K^k(z)`` (with the bias applied at every step); ``out[0] = z``.
        """
        if isinstance(steps, bool) or int(steps) != steps or steps < 0:
            raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
        self._check_input(z)
        states = [z]
        for _ in range(int(steps)):
            states.append(self(states[-1]))
        return torch.stack(states)

    def penalty(self) -> torch.Tensor:
        """Regularization term to add to a training loss (a zero scalar for this class)."""
        ref = next(self.parameters())
        return torch.zeros((), dtype=ref.dtype, device=ref.device)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, bias={self.bias is not None}"


class DenseOperator(KoopmanOperator):
    """Unconstrained linear (affine) Koopman operator ``z ↦ z @ K.T + b``.

    The most expressive choice and the KDM default (Berman et al. 2025, with bias); nothing
    keeps it stable, so long rollouts may grow.

    Parameters
    ----------
    dim : int
        Latent dimension.
    bias : bool, default False
        Learnable affine term.
    init : {"identity", "orthogonal", "random", "linear"}, default "identity"
        Initial ``K``: the identity, a random orthogonal matrix, i.i.d. normal entries with
        variance ``1/dim`` (spectral radius ≈ 1), or ``torch.nn.Linear``'s default, entries of
        ``K`` and ``b`` uniform in ``(−1/√dim, 1/√dim)`` (the KDM authors' operator).
    init_scale : float, default 1.0
        Factor applied to the initial matrix.
    """

    INITS = ("identity", "orthogonal", "random", "linear")

    def __init__(
        self, dim: int, bias: bool = False, init: str = "identity", init_scale: float = 1.0
    ) -> None:
        super().__init__(dim, bias)
        if init not in self.INITS:
            raise ValueError(f"init must be one of {self.INITS}, got {init!r}")
        if not math.isfinite(init_scale):
            raise ValueError(f"init_scale must be finite, got {init_scale!r}")
        weight = torch.empty(self.dim, self.dim)
        if init == "identity":
            nn.init.eye_(weight)
        elif init == "orthogonal":
            nn.init.orthogonal_(weight)
        elif init == "random":
            nn.init.normal_(weight, std=1.0 / math.sqrt(self.dim))
        else:
            bound = 1.0 / math.sqrt(self.dim)
            nn.init.uniform_(weight, -bound, bound)
            if self.bias is not None:
                nn.init.uniform_(self.bias, -bound, bound)
        self.weight = nn.Parameter(weight * init_scale)
        self.init = init
        self.init_scale = float(init_scale)

    def matrix(self) -> torch.Tensor:
        return self.weight

    def _linear(self, z: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(z, self.weight)


class LowRankOperator(KoopmanOperator):
    """Low-rank Koopman operator ``K = I + U Vᵀ`` (``residual``) or ``K = U Vᵀ``.

    Costs ``O(batch · dim · rank)`` per step instead of ``O(batch · dim²)``. Its eigenvalues are
    those of the small ``rank × rank`` matrix ``Vᵀ U`` (shifted by one when residual) plus
    ``dim − rank`` copies of 1 (residual) or 0.

    Parameters
    ----------
    dim : int
        Latent dimension.
    rank : int
        Rank of the update, ``1 ≤ rank ≤ dim``.
    residual : bool, default True
        ``K = I + U Vᵀ``; otherwise ``K = U Vᵀ``.
    bias : bool, default False
        Learnable affine term.

    Notes
    -----
    Initialization: residual — ``U``, ``V`` with small normal entries (std ``0.1 / sqrt(dim)``),
    so ``K ≈ I``; otherwise ``U = V`` with orthonormal columns, so ``K`` is an orthogonal
    projection of rank ``rank``.
    """

    def __init__(self, dim: int, rank: int, residual: bool = True, bias: bool = False) -> None:
        super().__init__(dim, bias)
        rank = _check_dim(rank, "rank")
        if rank > self.dim:
            raise ValueError(f"rank must satisfy 1 <= rank <= dim={self.dim}, got {rank}")
        self.rank = rank
        self.residual = bool(residual)
        if self.residual:
            u = torch.randn(self.dim, rank) * (0.1 / math.sqrt(self.dim))
            v = torch.randn(self.dim, rank) * (0.1 / math.sqrt(self.dim))
        else:
            u = torch.linalg.qr(torch.randn(self.dim, rank)).Q
            v = u.clone()
        self.U = nn.Parameter(u)
        self.V = nn.Parameter(v)

    def matrix(self) -> torch.Tensor:
        k = self.U @ self.V.T
        if self.residual:
            k = k + torch.eye(self.dim, dtype=k.dtype, device=k.device)
        return k

    def _linear(self, z: torch.Tensor) -> torch.Tensor:
        out = (z @ self.V) @ self.U.T
        return z + out if self.residual else out

    def eigenvalues(self) -> torch.Tensor:
        small = torch.linalg.eigvals(self.V.T @ self.U)
        rest = torch.zeros(self.dim - self.rank, dtype=small.dtype, device=small.device)
        if self.residual:
            small, rest = small + 1, rest + 1
        return _sort_eigenvalues(torch.cat([small, rest]))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}, residual={self.residual}"
