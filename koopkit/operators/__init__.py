"""Learnable finite-dimensional Koopman operators as torch modules.

Every operator acts on latent states stored as rows, ``z`` of shape ``(batch, dim)`` (any number
of leading dimensions is accepted), real in and real out:

``K(z) = z @ K.T + b``  (one discrete-time step; ``b`` is an optional learnable bias).

They share one interface (:class:`KoopmanOperator`): :meth:`~KoopmanOperator.forward`,
:meth:`~KoopmanOperator.matrix`, :meth:`~KoopmanOperator.eigenvalues` (discrete-time, per step),
:meth:`~KoopmanOperator.rollout` and :meth:`~KoopmanOperator.penalty`, a scalar that a training
loss can always add (zero except for the eigendecomposed operators).

Parameterizations:

- :class:`DenseOperator`: an unconstrained ``dim × dim`` matrix (KDM's default, with bias).
- :class:`LowRankOperator`: ``K = I + U Vᵀ`` (or ``U Vᵀ``), ``2·dim·rank`` parameters.
- :class:`DiagonalOperator`: a real block-diagonal form of a complex spectrum, complex-conjugate
  pairs held as 2×2 rotation–scaling blocks, ``|λ| < 1`` by construction when ``stable``
  (the form used by Lusch, Kutz & Brunton 2018, Nat. Commun., Sec. "Methods").
- :class:`EigendecomposedOperator`: ``K = P Λ Q`` with ``Q ≈ P⁻¹`` learned and kept close to the
  inverse by :meth:`~EigendecomposedOperator.inverse_penalty`, optional eigenvalue targets.
- :class:`ComplexEigendecomposedOperator`: ``K = Re(P Λ Q)`` with a complex basis and unpaired
  complex eigenvalues, the decomposed operator of the KDM authors' code.

Use :func:`make_operator` to build one from a string, e.g. from a config.
"""

from __future__ import annotations

from ._base import DenseOperator, KoopmanOperator, LowRankOperator
from ._spectral import ComplexEigendecomposedOperator, DiagonalOperator, EigendecomposedOperator

__all__ = [
    "KoopmanOperator",
    "DenseOperator",
    "LowRankOperator",
    "DiagonalOperator",
    "EigendecomposedOperator",
    "ComplexEigendecomposedOperator",
    "make_operator",
    "OPERATOR_KINDS",
]

OPERATOR_KINDS = {
    "dense": DenseOperator,
    "lowrank": LowRankOperator,
    "diagonal": DiagonalOperator,
    "eigendecomposed": EigendecomposedOperator,
    "complex-eigendecomposed": ComplexEigendecomposedOperator,
}


def make_operator(kind: str, dim: int, **kwargs) -> KoopmanOperator:
    """Build an operator by name.

    Parameters
    ----------
    kind : {"dense", "lowrank", "diagonal", "eigendecomposed", "complex-eigendecomposed"}
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


# Public under this module's name (documentation, repr), wherever the class is defined.
for _cls in (OPERATOR_KINDS[kind] for kind in OPERATOR_KINDS):
    _cls.__module__ = __name__
KoopmanOperator.__module__ = __name__
