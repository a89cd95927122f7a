"""Exact Koopman closure (koopkit.analysis.closure)."""

import numpy as np
import pytest
import scipy.linalg
import sympy

from koopkit.analysis import ClosureResult, grow_monomial_dictionary, koopman_closure
from koopkit.systems import Duffing, SlowManifold

x1, x2 = sympy.symbols("x1 x2")


def test_slow_manifold_closes_with_exact_generator():
    res = koopman_closure(SlowManifold(mu=-0.05, lam=-1.0), [x1, x2, x1**2])
    assert isinstance(res, ClosureResult) and res.closed
    r = sympy.Rational
    expected = sympy.Matrix([[r(-1, 20), 0, 0], [0, -1, 1], [0, 0, r(-1, 10)]])
    assert res.generator == expected
    assert sorted(res.eigenvalues()) == sorted([r(-1, 20), -1, r(-1, 10)])
    assert all(resid == 0 for resid in res.residuals)


def test_symbolic_parameters_give_eigenvalues_mu_lambda_two_mu():
    mu, lam = sympy.symbols("mu lam")
    res = koopman_closure([mu * x1, lam * (x2 - x1**2)], [x1, x2, x1**2], variables=(x1, x2))
    assert res.generator == sympy.Matrix([[mu, 0, 0], [0, lam, -lam], [0, 0, 2 * mu]])
    assert set(res.eigenvalues()) == {mu, lam, 2 * mu}


def test_generator_predicts_the_flow_exactly():
    system = SlowManifold(mu=-0.3, lam=-1.5)
    res = koopman_closure(system, [x1, x2, x1**2])
    traj = system.simulate([0.7, -0.4], 20, 0.1)
    psi = np.stack([traj[:, 0], traj[:, 1], traj[:, 0] ** 2], axis=1)
    step = scipy.linalg.expm(res.generator_array() * 0.1)  # dψ/dt = L ψ (column convention)
    np.testing.assert_allclose(psi[1:], psi[:-1] @ step.T, atol=1e-10)


def test_slow_manifold_without_square_is_not_closed():
    res = koopman_closure(SlowManifold(), [x1, x2])
    assert not res.closed and res.generator is None
    assert res.residuals[0] == 0
    assert sympy.simplify(res.residuals[1] - x1**2) == 0
    with pytest.raises(ValueError, match="not closed"):
        res.eigenvalues()


def test_grow_closes_slow_manifold():
    res = grow_monomial_dictionary(SlowManifold())
    assert res.closed
    assert set(res.observables) == {x1, x2, x1**2}
    assert "closed" in res.message


@pytest.mark.parametrize("max_degree", [3, 4, 7])
def test_duffing_never_closes(max_degree):
    res = grow_monomial_dictionary(Duffing(), max_degree=max_degree)
    assert not res.closed and res.generator is None
    assert "not closed up to degree" in res.message
    assert any(r != 0 for r in res.residuals)
    assert len(res.history) >= 2


def test_nonpolynomial_observables_are_handled():
    th, om = sympy.symbols("theta omega")
    res = koopman_closure(
        [om, -sympy.sin(th)], [th, om, sympy.sin(th), sympy.cos(th)], variables=(th, om)
    )
    assert not res.closed
    # a rotation: span{sin, cos} of a constant-speed angle is closed
    res = koopman_closure(
        [sympy.Integer(2), sympy.Integer(0)], [sympy.sin(th), sympy.cos(th)], variables=(th, om)
    )
    assert res.closed and res.generator == sympy.Matrix([[0, 2], [-2, 0]])


def test_bad_inputs():
    with pytest.raises(ValueError, match="linearly independent"):
        koopman_closure(SlowManifold(), [x1, 2 * x1])
    with pytest.raises(ValueError, match="variables"):
        koopman_closure(lambda x: [x[0]], [x1])
    with pytest.raises(ValueError, match="components"):
        koopman_closure([x1], [x1], variables=(x1, x2))
    with pytest.raises(ValueError, match="max_degree"):
        grow_monomial_dictionary(SlowManifold(), max_degree=0)
