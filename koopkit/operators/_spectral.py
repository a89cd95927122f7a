"""Operators with an explicitly parameterized spectrum (diagonal, eigendecomposed)."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._base import KoopmanOperator, _sort_eigenvalues

__all__ = ["ComplexEigendecomposedOperator", "DiagonalOperator", "EigendecomposedOperator"]


def _check_targets(targets: torch.Tensor | None, n: int) -> torch.Tensor | None:
    if targets is None:
        return None
    targets = torch.as_tensor(targets, dtype=torch.get_default_dtype())
    if targets.shape != (n, 2):
        raise ValueError(
            f"eigenvalue_targets must have shape ({n}, 2) (real and imaginary part of one target "
            f"per parameterized eigenvalue), got {tuple(targets.shape)}"
        )
    return targets.clone()


def _target_distance(re: torch.Tensor, im: torch.Tensor, op: nn.Module) -> torch.Tensor:
    """``mean_j |λ_j − t_j|`` for ``λ = re + i·im`` and ``op.eigenvalue_targets`` (0 if none)."""
    targets = op.eigenvalue_targets
    if targets is None:
        return re.new_zeros(())
    targets = targets.to(re.dtype)
    return torch.hypot(re - targets[:, 0], im - targets[:, 1]).mean()


# Safety margin below 1 for stable moduli, in units of the dtype's machine epsilon: the
# modulus of a complex number computed from its real and imaginary parts carries a rounding
# error of a few ulps, and |λ| must stay strictly below 1 after that rounding too.
_STABLE_MARGIN_ULPS = 8


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
    ``P⁻¹`` by :meth:`inverse_penalty`; optional eigenvalue targets pull the spectrum towards
    given values (Berman et al. 2025, decomposed KDM). :meth:`penalty` returns both, weighted,
    so that a training loss can add it.

    :meth:`eigenvalues` returns ``Λ``: the eigenvalues of :meth:`matrix` exactly when ``Q = P⁻¹``
    (at initialization, or after :meth:`sync_inverse_`), approximately while the penalty is small.

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
    eigenvalue_targets : Tensor of shape (ceil(dim / 2), 2), optional
        Real and imaginary part of one target per parameterized eigenvalue (the upper member of
        each conjugate pair, then the real one of an odd ``dim``), in parameter order; see
        :meth:`target_penalty`. Kept as a buffer (saved with the state dict).
    target_weight : float, default 1.0
        Factor of :meth:`target_penalty` in :meth:`penalty`.
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
        eigenvalue_targets: torch.Tensor | None = None,
        target_weight: float = 1.0,
        **spectrum_kwargs,
    ) -> None:
        super().__init__(dim, bias)
        for name, value in (("inverse_weight", inverse_weight), ("target_weight", target_weight)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        self.inverse_weight, self.target_weight = float(inverse_weight), float(target_weight)
        self.spectrum = DiagonalOperator(self.dim, stable=stable, bias=False, **spectrum_kwargs)
        basis = torch.linalg.qr(torch.randn(self.dim, self.dim)).Q
        self.P = nn.Parameter(basis)
        self.Q = nn.Parameter(basis.T.clone())
        n = self.spectrum.n_pairs + self.spectrum.n_real
        self.register_buffer("eigenvalue_targets", _check_targets(eigenvalue_targets, n))

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
        """``mean((QP − I)²) + mean((PQ − I)²)`` over the entries (zero iff ``Q = P⁻¹``).

        A mean as in Berman et al. 2025's code; a sum would grow with ``dim²`` against the loss.
        """
        eye = torch.eye(self.dim, dtype=self.P.dtype, device=self.P.device)
        return ((self.Q @ self.P - eye) ** 2).mean() + ((self.P @ self.Q - eye) ** 2).mean()

    def target_penalty(self) -> torch.Tensor:
        """``mean_j |λ_j − t_j|`` over the parameterized eigenvalues (0 without targets)."""
        a, b = self.spectrum._block_entries()
        m = self.spectrum.n_pairs
        return _target_distance(a, torch.cat([b[:m], torch.zeros_like(b[m:])]), self)

    def penalty(self) -> torch.Tensor:
        """``inverse_weight · inverse_penalty() + target_weight · target_penalty()``."""
        inverse, target = self.inverse_penalty(), self.target_penalty()
        return self.inverse_weight * inverse + self.target_weight * target

    @torch.no_grad()
    def sync_inverse_(self) -> EigendecomposedOperator:
        """Set ``Q ← P⁻¹`` exactly (e.g. after training); returns ``self``."""
        self.Q.copy_(torch.linalg.inv(self.P))
        return self

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, inverse_weight={self.inverse_weight}"


class ComplexEigendecomposedOperator(KoopmanOperator):
    """``K(z) = Re(P Λ Q z)``: a complex basis, ``dim`` unpaired complex eigenvalues, real part.

    The decomposed operator of Berman et al. 2025's code (``FastKoopmanMatrix``, used by their
    ``cifar_uncond_decomposed`` configuration): ``P = P_re + i·P_im`` with the rows of ``P_re``
    and ``P_im`` each normalised to unit length, ``Q = Q_re + i·Q_im`` learned and kept close to
    ``P⁻¹`` by :meth:`inverse_penalty`, ``Λ = diag(λ)`` with ``λ_k = exp(−exp(ν_k))·e^{iθ_k}``
    and ``θ_k = exp(θlog_k)``, so ``|λ_k| < 1``. A real state is lifted to ``z + 0i``, mapped,
    and its real part kept: the step is the real matrix ``Re(P Λ Q)``, whose eigenvalues are
    *not* the ``λ_k`` in general (nothing pairs them into conjugates). :meth:`spectrum_values`
    returns the ``λ_k``, the values the eigenvalue targets act on; :meth:`eigenvalues`, as for
    every operator, those of :meth:`matrix`.

    Parameters
    ----------
    dim : int
        Latent dimension.
    bias : bool, default False
        Learnable affine term (the authors' operator has none).
    inverse_weight, target_weight : float, default 1.0
        Factors of :meth:`inverse_penalty` and :meth:`target_penalty` in :meth:`penalty`.
    eigenvalue_targets : Tensor of shape (dim, 2), optional
        Real and imaginary part of one target per ``λ_k``; a buffer.

    Notes
    -----
    Initialization as the authors': ``P_re``, ``P_im`` random orthonormal; ``Q_re``, ``Q_im``
    i.i.d. ``N(0, 1/(2·dim))`` (so ``Q`` starts far from ``P⁻¹``); moduli ``√u`` with
    ``u ~ U(0, 1)``, uniform on the unit disc (Orvieto et al. 2023, ring ``r_min = 0``,
    ``r_max = 1``), phases ``2π·u``. ``4·dim² + 2·dim`` parameters (plus the bias).
    """

    def __init__(
        self,
        dim: int,
        bias: bool = False,
        inverse_weight: float = 1.0,
        eigenvalue_targets: torch.Tensor | None = None,
        target_weight: float = 1.0,
    ) -> None:
        super().__init__(dim, bias)
        for name, value in (("inverse_weight", inverse_weight), ("target_weight", target_weight)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        self.inverse_weight, self.target_weight = float(inverse_weight), float(target_weight)
        d, scale = self.dim, 1.0 / math.sqrt(2 * self.dim)
        # The scale of P's parts is immaterial (rows are normalised); it is the authors'.
        self.P_re = nn.Parameter(torch.linalg.qr(torch.randn(d, d)).Q * scale)
        self.P_im = nn.Parameter(torch.linalg.qr(torch.randn(d, d)).Q * scale)
        self.Q_re = nn.Parameter(torch.randn(d, d) * scale)
        self.Q_im = nn.Parameter(torch.randn(d, d) * scale)
        # |λ| = exp(−exp(ν)) = √u and θ = exp(θlog) = 2π·u'.
        self.nu = nn.Parameter(torch.log(-0.5 * torch.log(torch.rand(d))))
        self.theta_log = nn.Parameter(torch.log(2 * math.pi * torch.rand(d)))
        self.register_buffer("eigenvalue_targets", _check_targets(eigenvalue_targets, d))

    def basis(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Real and imaginary part of ``P``, each ``(dim, dim)`` with unit rows."""
        return tuple(x / (x.norm(dim=-1, keepdim=True) + 1e-8) for x in (self.P_re, self.P_im))

    def _spectrum_parts(self) -> tuple[torch.Tensor, torch.Tensor]:
        modulus, phase = torch.exp(-torch.exp(self.nu)), torch.exp(self.theta_log)
        return modulus * torch.cos(phase), modulus * torch.sin(phase)

    def spectrum_values(self) -> torch.Tensor:
        """The parameterized ``λ_k``, shape ``(dim,)``, complex, in parameter order."""
        return torch.complex(*self._spectrum_parts())

    def matrix(self) -> torch.Tensor:
        p_re, p_im = self.basis()
        l_re, l_im = self._spectrum_parts()
        # Re(P Λ Q) = Re(P Λ) Q_re − Im(P Λ) Q_im
        return (p_re * l_re - p_im * l_im) @ self.Q_re - (p_re * l_im + p_im * l_re) @ self.Q_im

    def _linear(self, z: torch.Tensor) -> torch.Tensor:
        p_re, p_im = self.basis()
        l_re, l_im = self._spectrum_parts()
        a, b = z @ self.Q_re.T, z @ self.Q_im.T  # Q z, real and imaginary part
        return (a * l_re - b * l_im) @ p_re.T - (a * l_im + b * l_re) @ p_im.T

    def inverse_penalty(self) -> torch.Tensor:
        """``‖QP − I‖² + ‖PQ − I‖²`` (complex Frobenius) over ``2·dim²``.

        The mean squared entry of the real ``2·dim × 2·dim`` block forms of ``QP − I`` and
        ``PQ − I``, as Berman et al. 2025's code computes it; zero iff ``Q = P⁻¹``.
        """
        p_re, p_im = self.basis()
        eye = torch.eye(self.dim, dtype=p_re.dtype, device=p_re.device)
        total = p_re.new_zeros(())
        for (a_re, a_im), (b_re, b_im) in (
            ((self.Q_re, self.Q_im), (p_re, p_im)),
            ((p_re, p_im), (self.Q_re, self.Q_im)),
        ):
            re = a_re @ b_re - a_im @ b_im - eye
            im = a_re @ b_im + a_im @ b_re
            total = total + re.square().sum() + im.square().sum()
        return total / (2 * self.dim**2)

    def target_penalty(self) -> torch.Tensor:
        """``mean_k |λ_k − t_k|`` (0 without targets)."""
        return _target_distance(*self._spectrum_parts(), self)

    def penalty(self) -> torch.Tensor:
        """``inverse_weight · inverse_penalty() + target_weight · target_penalty()``."""
        inverse, target = self.inverse_penalty(), self.target_penalty()
        return self.inverse_weight * inverse + self.target_weight * target

    @torch.no_grad()
    def sync_inverse_(self) -> ComplexEigendecomposedOperator:
        """Set ``Q ← P⁻¹`` exactly; returns ``self``."""
        inverse = torch.linalg.inv(torch.complex(*self.basis()))
        self.Q_re.copy_(inverse.real)
        self.Q_im.copy_(inverse.imag)
        return self

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, inverse_weight={self.inverse_weight}"
