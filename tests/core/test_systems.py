"""Dynamical systems: shapes, reproducibility, exact solutions agree with the integrator."""

import numpy as np
import pytest
import scipy.integrate

from koopkit import systems

ALL_SYSTEMS = [
    systems.LinearSystem(np.array([[0.0, 1.0], [-1.0, -0.1]])),
    systems.Pendulum(),
    systems.Duffing(),
    systems.VanDerPol(),
    systems.Lorenz63(),
    systems.SlowManifold(),
]


@pytest.mark.parametrize("system", ALL_SYSTEMS, ids=lambda s: type(s).__name__)
def test_trajectories_shape_and_reproducible_seed(system):
    a = system.trajectories(3, 10, 0.01, seed=7)
    b = system.trajectories(3, 10, 0.01, seed=7)
    c = system.trajectories(3, 10, 0.01, seed=8)
    assert a.shape == (3, 11, system.dim)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("system", ALL_SYSTEMS, ids=lambda s: type(s).__name__)
def test_vector_field_is_vectorised_over_rows(system):
    x = np.random.default_rng(0).normal(size=(5, system.dim))
    rows = np.stack([system.vector_field(0.0, xi) for xi in x])
    np.testing.assert_allclose(system.vector_field(0.0, x), rows)


def test_simulate_starts_at_x0_and_matches_explicit_x0_batch():
    pend = systems.Pendulum()
    x0 = np.array([[0.3, 0.0], [1.0, 0.2]])
    batch = pend.trajectories(2, 5, 0.1, x0=x0)
    np.testing.assert_array_equal(batch[:, 0], x0)
    np.testing.assert_allclose(batch[1], pend.simulate(x0[1], 5, 0.1))


def test_frictionless_pendulum_conserves_energy():
    pend = systems.Pendulum()
    traj = pend.simulate([1.0, 0.5], 500, 0.05)
    energy = pend.energy(traj)
    np.testing.assert_allclose(energy, energy[0], rtol=1e-8)


def test_slow_manifold_closed_form_matches_integrator():
    sm = systems.SlowManifold(mu=-0.1, lam=-1.0)
    x0 = np.array([0.8, -0.4])
    exact = sm.simulate(x0, 40, 0.1)
    sol = scipy.integrate.solve_ivp(
        sm.vector_field, (0, 4.0), x0, t_eval=0.1 * np.arange(41), rtol=1e-11, atol=1e-13
    )
    np.testing.assert_allclose(exact, sol.y.T, atol=1e-9)


def test_slow_manifold_symbolic_matches_numeric_vector_field():
    sm = systems.SlowManifold(mu=-0.25, lam=-2.0)
    (x1, x2), exprs = sm.symbolic()
    point = {x1: 0.7, x2: -1.3}
    numeric = sm.vector_field(0.0, np.array([0.7, -1.3]))
    np.testing.assert_allclose([float(e.subs(point)) for e in exprs], numeric)
    np.testing.assert_allclose(sm.koopman_eigenvalues, [-0.25, -2.0, -0.5])


def test_linear_system_flow_is_exact_and_from_discrete_inverts_expm():
    A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
    lin = systems.LinearSystem(A)
    traj = lin.simulate([1.0, 0.0], 3, 0.2)
    M = lin.flow_matrix(0.2)
    np.testing.assert_allclose(traj[3], np.linalg.matrix_power(M, 3) @ [1.0, 0.0])
    back = systems.LinearSystem.from_discrete(M, dt=0.2)
    np.testing.assert_allclose(back.A, A, atol=1e-10)
    np.testing.assert_allclose(
        np.sort_complex(lin.discrete_eigenvalues(0.2)), np.sort_complex(np.linalg.eigvals(M))
    )


def test_systems_reject_bad_arguments():
    pend = systems.Pendulum()
    with pytest.raises(ValueError, match="x0 must have shape"):
        pend.simulate([1.0, 2.0, 3.0], 5, 0.1)
    with pytest.raises(ValueError, match="dt must be"):
        pend.simulate([1.0, 2.0], 5, -0.1)
    with pytest.raises(ValueError, match="n_steps"):
        pend.trajectories(2, 0, 0.1)
    with pytest.raises(ValueError, match="square"):
        systems.LinearSystem(np.ones((2, 3)))
    with pytest.raises(ValueError, match="resonance"):
        systems.SlowManifold(mu=-0.5, lam=-1.0)
