"""Exact (symbolic) test of finite-dimensional Koopman invariance.

For an ODE ``dx/dt = f(x)`` the Koopman generator acts on an observable ``ψ`` as the Lie
derivative ``L ψ = ∇ψ · f``. A span of observables ``ψ_1, …, ψ_m`` is Koopman-invariant iff every
``L ψ_j`` lies in the span again, and then ``dψ/dt = L ψ`` for an exact ``m × m`` matrix ``L``
(Brunton, Brunton, Proctor & Kutz 2016, PLoS ONE 11(2): e0150171, Eqs. 10–12). The discrete-time
Koopman matrix over a step ``dt`` is then ``expm(L dt)``.

The test is exact linear algebra with sympy. Observables are treated as polynomials in the
state variables and in any non-polynomial sub-expressions of them (``sin(x1)``, ``exp(x2)``),
which are taken as independent generators: a closure found is exact, but identities between
such generators (``sin² + cos² = 1``) are not used, so a dictionary that closes only through
such an identity is reported as not closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy

__all__ = ["ClosureResult", "koopman_closure", "grow_monomial_dictionary"]


@dataclass
class ClosureResult:
    """Outcome of :func:`koopman_closure` or :func:`grow_monomial_dictionary`.

    Attributes
    ----------
    closed : bool
        Whether ``span(observables)`` is invariant under the Koopman generator.
    observables : tuple of sympy.Expr
        The observables ``ψ_1, …, ψ_m`` tested (for the growth helper: the final dictionary).
    variables : tuple of sympy.Symbol
        State variables ``x_1, …, x_n``.
    vector_field : tuple of sympy.Expr
        ``f_1, …, f_n``.
    lie_derivatives : tuple of sympy.Expr
        ``L ψ_j = Σ_i f_i ∂ψ_j/∂x_i``.
    generator : sympy.Matrix of shape (m, m) or None
        When closed, the exact generator in the *column* convention ``dψ/dt = L ψ``: row ``j``
        holds the coefficients of ``L ψ_j`` in ``ψ_1, …, ψ_m``. (The row-convention Koopman
        matrix of :class:`koopkit.EDMD`, ``ψ(Y) ≈ ψ(X) K``, is ``expm(Lᵀ dt)``.) ``None`` when
        not closed.
    residuals : tuple of sympy.Expr
        ``L ψ_j`` minus its component in the span, written in monomials outside the span; all
        zero iff closed.
    message : str
        A one-line verdict.
    history : list of tuple
        For :func:`grow_monomial_dictionary`: the dictionary tried in every round (empty for
        :func:`koopman_closure`).
    """

    closed: bool
    observables: tuple
    variables: tuple
    vector_field: tuple
    lie_derivatives: tuple
    generator: sympy.Matrix | None
    residuals: tuple
    message: str = ""
    history: list = field(default_factory=list)

    def eigenvalues(self) -> list:
        """Exact eigenvalues of the generator (continuous time), with multiplicity.

        Raises
        ------
        ValueError
            When the span is not closed (there is no generator).
        """
        if self.generator is None:
            raise ValueError("the span is not closed: there is no finite generator matrix")
        return [ev for ev, mult in self.generator.eigenvals().items() for _ in range(mult)]

    def generator_array(self) -> np.ndarray:
        """The generator as a float ndarray of shape ``(m, m)`` (needs numeric coefficients)."""
        if self.generator is None:
            raise ValueError("the span is not closed: there is no finite generator matrix")
        if self.generator.free_symbols:
            raise ValueError(
                f"the generator has free parameters {sorted(map(str, self.generator.free_symbols))}"
                "; substitute numbers first"
            )
        return np.array(self.generator.evalf(), dtype=float)

    def __str__(self) -> str:
        return self.message


def _symbolic_field(vector_field: Any, variables: Sequence | None) -> tuple[tuple, tuple]:
    """Normalise the accepted vector-field forms to (variables, expressions)."""
    if hasattr(vector_field, "symbolic"):
        symbols, exprs = vector_field.symbolic()
        return tuple(symbols), tuple(sympy.sympify(e) for e in exprs)
    if hasattr(vector_field, "vector_field") and hasattr(vector_field, "dim"):
        names = getattr(vector_field, "state_names", ()) or [
            f"x{i + 1}" for i in range(vector_field.dim)
        ]
        symbols = tuple(variables) if variables is not None else sympy.symbols(list(names))
        try:
            values = vector_field.vector_field(0.0, np.array(symbols, dtype=object))
        except TypeError as err:
            raise ValueError(
                f"{type(vector_field).__name__}.vector_field cannot be evaluated symbolically "
                f"({err}); pass the vector field as sympy expressions with variables="
            ) from err
        exprs = tuple(sympy.nsimplify(sympy.sympify(v), rational=True) for v in values)
        return tuple(symbols), exprs
    if callable(vector_field):
        if variables is None:
            raise ValueError("a callable vector_field needs variables= (the state symbols)")
        symbols = tuple(variables)
        exprs = tuple(sympy.sympify(e) for e in vector_field(symbols))
        return symbols, exprs
    exprs = tuple(sympy.sympify(e) for e in vector_field)
    if variables is None:
        free = set().union(*(e.free_symbols for e in exprs))
        if len(free) != len(exprs):
            raise ValueError(
                "cannot infer the state variables from the vector field; pass variables="
            )
        symbols = tuple(sorted(free, key=str))
    else:
        symbols = tuple(variables)
    return symbols, exprs


def _generators(exprs: Sequence, variables: tuple) -> list:
    """Variables plus the non-polynomial sub-expressions of them (taken as independent)."""
    var_set = set(variables)
    extra = set()
    for e in exprs:
        for atom in e.atoms(sympy.Function):
            if atom.free_symbols & var_set:
                extra.add(atom)
    return list(variables) + sorted(extra, key=sympy.default_sort_key)


def _coefficients(exprs: Sequence, gens: list) -> tuple[list, sympy.Matrix]:
    """Monomials (as exponent tuples) and the coefficient matrix, one column per expression."""
    try:
        polys = [sympy.Poly(sympy.expand(e), *gens) for e in exprs]
    except sympy.PolynomialError as err:
        raise ValueError(
            "observables and vector field must be polynomial in the state variables and in "
            f"functions of them (sin, cos, exp, ...): {err}"
        ) from err
    monomials = sorted({m for p in polys for m in p.monoms()}, reverse=True)
    index = {m: i for i, m in enumerate(monomials)}
    mat = sympy.zeros(len(monomials), len(exprs))
    for j, p in enumerate(polys):
        for m, c in zip(p.monoms(), p.coeffs(), strict=True):
            mat[index[m], j] = c
    return monomials, mat


def koopman_closure(
    vector_field: Any,
    observables: Sequence,
    variables: Sequence | None = None,
) -> ClosureResult:
    """Test exactly whether ``span(observables)`` is invariant under the Koopman generator.

    Computes the Lie derivatives ``L ψ_j = Σ_i f_i ∂ψ_j/∂x_i`` and solves, in exact arithmetic,
    ``L ψ_j = Σ_k L_jk ψ_k`` (Brunton et al. 2016, Eq. 10).

    Parameters
    ----------
    vector_field : DynamicalSystem, sequence of sympy expressions, or callable
        ``f(x)``: a :class:`koopkit.systems.DynamicalSystem` (its ``symbolic()`` form when it has
        one, else its ``vector_field`` evaluated on symbols, with float parameters turned into
        exact rationals), expressions ``(f_1, …, f_n)``, or a callable mapping the tuple of
        variables to the expressions.
    observables : sequence of sympy expressions or str
        ``ψ_1, …, ψ_m``, linearly independent.
    variables : sequence of sympy.Symbol, optional
        State variables in the order of ``vector_field``. Needed for a callable; inferred
        otherwise (a system's own symbols, or the sorted free symbols of the expressions).

    Returns
    -------
    ClosureResult
        ``closed``, the exact generator ``L`` (``dψ/dt = L ψ``, column convention) when closed,
        else the residual expressions.

    Examples
    --------
    >>> from koopkit.systems import SlowManifold
    >>> x1, x2 = sympy.symbols("x1 x2")
    >>> res = koopman_closure(SlowManifold(mu=-0.05, lam=-1.0), [x1, x2, x1**2])
    >>> res.closed
    True
    """
    variables, field_exprs = _symbolic_field(vector_field, variables)
    if len(field_exprs) != len(variables):
        raise ValueError(
            f"vector_field has {len(field_exprs)} components but there are "
            f"{len(variables)} variables"
        )
    if not all(isinstance(v, sympy.Symbol) for v in variables):
        raise ValueError(f"variables must be sympy Symbols, got {variables!r}")
    psi = tuple(sympy.sympify(o) for o in observables)
    if not psi:
        raise ValueError("observables must hold at least one expression")
    lie = tuple(
        sympy.expand(sum(f * sympy.diff(p, x) for f, x in zip(field_exprs, variables, strict=True)))
        for p in psi
    )  # L ψ = ∇ψ · f
    gens = _generators(psi + lie, variables)
    monomials, coeffs = _coefficients(psi + lie, gens)
    m = len(psi)
    a, b = coeffs[:, :m], coeffs[:, m:]
    if a.rank(simplify=True) < m:
        raise ValueError(f"observables must be linearly independent, got {list(psi)}")
    # complete the span of the observables with unit monomials to a basis of all monomials
    _, row_pivots = a.T.rref(simplify=True)
    outside = [i for i in range(len(monomials)) if i not in row_pivots]
    eye = sympy.eye(len(monomials))
    basis = a.row_join(eye.extract(list(range(len(monomials))), outside)) if outside else a
    solution = basis.LUsolve(b).applyfunc(sympy.simplify)
    in_span, out_span = solution[:m, :], solution[m:, :]
    residuals = []
    for j in range(m):
        terms = [
            out_span[r, j] * sympy.Mul(*[g**e for g, e in zip(gens, monomials[i], strict=True)])
            for r, i in enumerate(outside)
        ]
        residuals.append(sympy.expand(sum(terms, sympy.Integer(0))))
    closed = all(r == 0 for r in residuals)
    generator = in_span.T if closed else None
    if closed:
        message = f"closed: the span of {m} observables is Koopman-invariant"
    else:
        leaving = [str(psi[j]) for j in range(m) if residuals[j] != 0]
        message = f"not closed: the Lie derivatives of {', '.join(leaving)} leave the span"
    return ClosureResult(
        closed=closed,
        observables=psi,
        variables=tuple(variables),
        vector_field=tuple(field_exprs),
        lie_derivatives=lie,
        generator=generator,
        residuals=tuple(residuals),
        message=message,
    )


def grow_monomial_dictionary(
    vector_field: Any,
    variables: Sequence | None = None,
    start: Sequence | None = None,
    max_degree: int = 4,
) -> ClosureResult:
    """Grow a monomial dictionary until it is Koopman-invariant or passes ``max_degree``.

    Starting from ``start`` (default: the state variables), repeatedly add every monomial that
    appears in the residuals of :func:`koopman_closure`. For the slow manifold
    ``{x1, x2} → {x1, x2, x1²}`` closes; for the Duffing oscillator the cubic term raises the
    degree at every round, so no polynomial dictionary closes and the result says so.

    Parameters
    ----------
    vector_field, variables
        As in :func:`koopman_closure`; the vector field must be polynomial.
    start : sequence of sympy expressions, optional
        Initial dictionary (default: the variables).
    max_degree : int, default 4
        Largest total degree of a monomial that may be added.

    Returns
    -------
    ClosureResult
        For the last dictionary tried; ``history`` lists the dictionary of every round and
        ``message`` says whether it closed or which monomial passed the degree limit.
    """
    if isinstance(max_degree, bool) or int(max_degree) != max_degree or max_degree < 1:
        raise ValueError(f"max_degree must be a positive integer, got {max_degree!r}")
    variables, field_exprs = _symbolic_field(vector_field, variables)
    dictionary = list(variables if start is None else (sympy.sympify(s) for s in start))
    history: list = []
    while True:
        history.append(tuple(dictionary))
        result = koopman_closure(field_exprs, dictionary, variables)
        result.history = history
        if result.closed:
            result.message = (
                f"closed after {len(history) - 1} growth round(s) with "
                f"{len(dictionary)} observables: {list(dictionary)}"
            )
            return result
        new, too_high = [], []
        for r in result.residuals:
            for term in sympy.Add.make_args(r):
                if term == 0:
                    continue
                monomial = sympy.Mul(
                    *[f for f in sympy.Mul.make_args(term) if f.free_symbols & set(variables)]
                )
                if not monomial.is_polynomial(*variables):
                    raise ValueError(
                        f"residual term {term} is not polynomial in {variables}; "
                        "grow_monomial_dictionary needs a polynomial vector field"
                    )
                degree = sympy.Poly(monomial, *variables).total_degree()
                target = too_high if degree > max_degree else new
                if monomial not in target and monomial not in dictionary:
                    target.append(monomial)
        if too_high or not new:
            result.message = (
                f"not closed up to degree {max_degree}: the Lie derivatives of the "
                f"{len(dictionary)} observables need {too_high or 'new monomials'} "
                f"(degree > {max_degree})"
            )
            return result
        dictionary.extend(sorted(new, key=sympy.default_sort_key))
