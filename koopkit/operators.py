"""Learnable finite-dimensional Koopman operators as torch modules.

Every operator acts on latent states stored as rows, ``z`` of shape ``(batch, dim)`` (any number
of leading dimensions is accepted), real in and real out:

``K(z) = z @ K.T + b``  (one discrete-time step; ``b`` is an optional learnable bias).

They share one interface (:class:`KoopmanOperator`): :meth:`~KoopmanOperator.forward`,
:meth:`~KoopmanOperator.matrix`, :meth:`~KoopmanOperator.eigenvalues` (discrete-time, per step),
:meth:`~KoopmanOperator.rollout` and :meth:`~KoopmanOperator.penalty`, a scalar that a training
loss can always add (zero except for :class:`EigendecomposedOperator`).

Parameterizations:

- :class:`DenseOperator`: an unconstrained ``dim × dim`` matrix (KDM's default, with bias).
- :class:`LowRankOperator`: ``K = I + U Vᵀ`` (or ``U Vᵀ``), ``2·dim·rank`` parameters.
- :class:`DiagonalOperator`: a real block-diagonal form of a complex spectrum, complex-conjugate
  pairs held as 2×2 rotation–scaling blocks, ``|λ| < 1`` by construction when ``stable``
  (the form used by Lusch, Kutz & Brunton 2018, Nat. Commun., Sec. "Methods").
- :class:`EigendecomposedOperator`: ``K = P Λ Q`` with ``Q ≈ P⁻¹`` learned and kept close to the
  inverse by :meth:`~EigendecomposedOperator.inverse_penalty`.

Use :func:`make_operator` to build one from a string, e.g. from a config.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from koopkit.spectrum import sort_eigenvalues

__all__ = [
    "KoopmanOperator",
    "DenseOperator",
    "LowRankOperator",
    "DiagonalOperator",
    "EigendecomposedOperator",
    "make_operator",
    "OPERATOR_KINDS",
]

# Safety margin below 1 for stable moduli, in units of the dtype's machine epsilon: the
# modulus of a complex number computed from its real and imaginary parts carries a rounding
# error of a few ulps, and |λ| must stay strictly below 1 after that rounding too.
_STABLE_MARGIN_ULPS = 8


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
    init : {"identity", "orthogonal", "random"}, default "identity"
        Initial ``K``: the identity, a random orthogonal matrix, or i.i.d. normal entries with
        variance ``1/dim`` (spectral radius ≈ 1).
    init_scale : float, default 1.0
        Factor applied to the initial matrix.
    """

    INITS = ("identity", "orthogonal", "random")

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
        else:
            nn.init.normal_(weight, std=1.0 / math.sqrt(self.dim))
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


class DiagonalOperator(KoopmanOperator):
    """Koopman operator with an explicitly parameterized complex spectrum.

    ``dim = 2m + r`` (``r ∈ {0, 1}``): ``m`` complex-conjugate pairs ``λ = ρ e^{±iθ}`` held as
    real 2×2 rotation–scaling blocks acting on coordinates ``(2j, 2j+1)``,

    ``[[ρ cos θ, −ρ sin θ], [ρ sin θ, ρ cos θ]]``,

    and, for odd ``dim``, one real eigenvalue ``ρ cos θ`` on the last coordinate. The step is
    applied block-wise (``O(batch · dim)``), never through a dense matrix product.

    When ``stable``, ``ρ = exp(−exp(ν))`` (Lusch et al. 2018; Orvieto et al. 2023, LRU), clamped
    to at most ``1 − 8·eps`` of the parameter dtype so that ``|λ| < 1`` holds *strictly* for every
    parameter value, even where ``exp(ν)`` underflows. Otherwise ``ρ = exp(ν)`` (any positive
    modulus).

    Parameters
    ----------
    dim : int
        Latent dimension.
    stable : bool, default True
        Constrain every eigenvalue to the open unit disc.
    bias : bool, default False
        Learnable affine term.
    modulus_range : tuple of float, default (0.8, 0.999)
        Initial moduli are drawn uniformly from this interval; with ``stable`` it must lie
        inside ``(0, 1)``, otherwise inside ``(0, ∞)``.
    phase_range : tuple of float, default (0, π)
        Initial phases θ (radians per step) are drawn uniformly from this interval.

    Attributes
    ----------
    nu : torch.nn.Parameter of shape (m + r,)
        Raw modulus parameters.
    theta : torch.nn.Parameter of shape (m + r,)
        Phases in radians per step.
    """

    def __init__(
        self,
        dim: int,
        stable: bool = True,
        bias: bool = False,
        modulus_range: tuple[float, float] = (0.8, 0.999),
        phase_range: tuple[float, float] = (0.0, math.pi),
    ) -> None:
        super().__init__(dim, bias)
        lo, hi = (float(v) for v in modulus_range)
        upper = 1.0 if stable else math.inf
        if not (0.0 < lo <= hi < upper):
            raise ValueError(
                f"modulus_range must satisfy 0 < low <= high < {upper} "
                f"(stable={stable}), got {modulus_range!r}"
            )
        p_lo, p_hi = (float(v) for v in phase_range)
        if not (math.isfinite(p_lo) and math.isfinite(p_hi) and p_lo <= p_hi):
            raise ValueError(f"phase_range must be finite with low <= high, got {phase_range!r}")
        self.stable = bool(stable)
        self.modulus_range = (lo, hi)
        self.phase_range = (p_lo, p_hi)
        self.n_pairs, self.n_real = divmod(self.dim, 2)
        n = self.n_pairs + self.n_real
        rho = torch.empty(n).uniform_(lo, hi)
        theta = torch.empty(n).uniform_(p_lo, p_hi)
        nu = torch.log(-torch.log(rho)) if self.stable else torch.log(rho)
        self.nu = nn.Parameter(nu)
        self.theta = nn.Parameter(theta)

    def modulus(self) -> torch.Tensor:
        """Moduli ``ρ`` of shape ``(m + r,)``; strictly below 1 when ``stable``."""
        if not self.stable:
            return torch.exp(self.nu)
        rho = torch.exp(-torch.exp(self.nu))
        return torch.clamp(rho, max=1.0 - _STABLE_MARGIN_ULPS * torch.finfo(rho.dtype).eps)

    def _block_entries(self) -> tuple[torch.Tensor, torch.Tensor]:
        rho = self.modulus()
        return rho * torch.cos(self.theta), rho * torch.sin(self.theta)

    def matrix(self) -> torch.Tensor:
        a, b = self._block_entries()
        m = self.n_pairs
        k = torch.zeros(self.dim, self.dim, dtype=a.dtype, device=a.device)
        idx = torch.arange(m, device=a.device) * 2
        k = k.index_put((idx, idx), a[:m])
        k = k.index_put((idx + 1, idx + 1), a[:m])
        k = k.index_put((idx, idx + 1), -b[:m])
        k = k.index_put((idx + 1, idx), b[:m])
        if self.n_real:
            last = torch.tensor([self.dim - 1], device=a.device)
            k = k.index_put((last, last), a[m:])
        return k

    def _linear(self, z: torch.Tensor) -> torch.Tensor:
        a, b = self._block_entries()
        m = self.n_pairs
        pairs = z[..., : 2 * m].unflatten(-1, (m, 2))
        x, y = pairs[..., 0], pairs[..., 1]
        am, bm = a[:m], b[:m]
        rotated = torch.stack([am * x - bm * y, bm * x + am * y], dim=-1).flatten(-2)
        if self.n_real:
            rotated = torch.cat([rotated, z[..., 2 * m :] * a[m:]], dim=-1)
        return rotated

    def eigenvalues(self) -> torch.Tensor:
        rho = self.modulus()
        m = self.n_pairs
        pair = torch.polar(rho[:m], self.theta[:m])
        parts = [pair, pair.conj()]
        if self.n_real:
            real = rho[m:] * torch.cos(self.theta[m:])
            parts.append(torch.complex(real, torch.zeros_like(real)))
        return _sort_eigenvalues(torch.cat(parts))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, stable={self.stable}"


class EigendecomposedOperator(KoopmanOperator):
    """Diagonalizable operator ``K = P Λ Q`` with a learnable basis ``P`` and ``Q ≈ P⁻¹``.

    ``Λ`` is the real block-diagonal form of a complex spectrum, parameterized exactly as in
    :class:`DiagonalOperator` (so ``|λ| < 1`` by construction when ``stable``). Rather than
    inverting ``P`` at every step, an approximate inverse ``Q`` is learned and kept close to
    ``P⁻¹`` by :meth:`inverse_penalty`, ``‖QP − I‖²_F + ‖PQ − I‖²_F``, which :meth:`penalty`
    returns (times ``inverse_weight``) so that a training loss can add it.

    :meth:`eigenvalues` returns the parameterized spectrum ``Λ``: these are the eigenvalues of
    :meth:`matrix` exactly when ``Q = P⁻¹`` (as at initialization, or after
    :meth:`sync_inverse_`) and approximately while the penalty is small.

    Parameters
    ----------
    dim : int
        Latent dimension.
    stable : bool, default True
        Constrain ``Λ`` to the open unit disc.
    bias : bool, default False
        Learnable affine term.
    inverse_weight : float, default 1.0
        Factor of :meth:`inverse_penalty` in :meth:`penalty`.
    **spectrum_kwargs
        ``modulus_range`` and ``phase_range`` of the spectrum, see :class:`DiagonalOperator`.

    Notes
    -----
    Initialization: ``P`` random orthogonal, ``Q = Pᵀ = P⁻¹``.
    """

    def __init__(
        self,
        dim: int,
        stable: bool = True,
        bias: bool = False,
        inverse_weight: float = 1.0,
        **spectrum_kwargs,
    ) -> None:
        super().__init__(dim, bias)
        if not (math.isfinite(inverse_weight) and inverse_weight >= 0):
            raise ValueError(f"inverse_weight must be finite and >= 0, got {inverse_weight!r}")
        self.inverse_weight = float(inverse_weight)
        self.spectrum = DiagonalOperator(self.dim, stable=stable, bias=False, **spectrum_kwargs)
        basis = torch.linalg.qr(torch.randn(self.dim, self.dim)).Q
        self.P = nn.Parameter(basis)
        self.Q = nn.Parameter(basis.T.clone())

    @property
    def stable(self) -> bool:
        return self.spectrum.stable

    def matrix(self) -> torch.Tensor:
        return self.P @ self.spectrum.matrix() @ self.Q

    def _linear(self, z: torch.Tensor) -> torch.Tensor:
        return self.spectrum._linear(z @ self.Q.T) @ self.P.T

    def eigenvalues(self) -> torch.Tensor:
        return self.spectrum.eigenvalues()

    def inverse_penalty(self) -> torch.Tensor:
        """``‖QP − I‖²_F + ‖PQ − I‖²_F`` (zero iff ``Q = P⁻¹``), a scalar tensor."""
        eye = torch.eye(self.dim, dtype=self.P.dtype, device=self.P.device)
        return ((self.Q @ self.P - eye) ** 2).sum() + ((self.P @ self.Q - eye) ** 2).sum()

    def penalty(self) -> torch.Tensor:
        """``inverse_weight · inverse_penalty()``."""
        return self.inverse_weight * self.inverse_penalty()

    @torch.no_grad()
    def sync_inverse_(self) -> EigendecomposedOperator:
        """Set ``Q ← P⁻¹`` exactly (e.g. after training); returns ``self``."""
        self.Q.copy_(torch.linalg.inv(self.P))
        return self

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, inverse_weight={self.inverse_weight}"


OPERATOR_KINDS = {
    "dense": DenseOperator,
    "lowrank": LowRankOperator,
    "diagonal": DiagonalOperator,
    "eigendecomposed": EigendecomposedOperator,
}


def make_operator(kind: str, dim: int, **kwargs) -> KoopmanOperator:
    """Build an operator by name.

    Parameters
    ----------
    kind : {"dense", "lowrank", "diagonal", "eigendecomposed"}
        Operator class (see :data:`OPERATOR_KINDS`).
    dim : int
        Latent dimension.
    **kwargs
        Passed to the class (e.g. ``rank=`` for ``"lowrank"``, ``bias=True``).

    Returns
    -------
    KoopmanOperator
    """
    if kind not in OPERATOR_KINDS:
        raise ValueError(
            f"unknown operator kind {kind!r}; expected one of {sorted(OPERATOR_KINDS)}"
        )
    return OPERATOR_KINDS[kind](dim, **kwargs)
