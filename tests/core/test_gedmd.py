"""GeneratorEDMD: the Koopman generator from derivatives, checked on systems with known generators
(linear ODEs, the slow manifold, an Ornstein–Uhlenbeck process), and its finite differences."""

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import koopkit as kk
from koopkit.dictionaries import (
    RBF,
    Concat,
    Identity,
    Polynomial,
    RandomFourier,
    SklearnTransformer,
)
from koopkit.finite_differences import finite_difference, finite_difference_weights
from koopkit.systems import LinearSystem, OrnsteinUhlenbeck, SlowManifold

finite = st.floats(-2, 2, allow_nan=False, allow_subnormal=False)


def _nearest_errors(values, targets):
    values = np.asarray(values)
    return np.array([np.abs(values - t).min() for t in targets])


# ------------------------------------------------------------------ laws


@given(
    A=arrays(np.float64, st.tuples(st.integers(1, 4)).map(lambda t: (t[0], t[0])), elements=finite),
    seed=st.integers(0, 2**16),
)
def test_generator_of_a_linear_ode_with_the_identity_dictionary_is_its_matrix(A, seed):
    n = A.shape[0]
    X = np.random.default_rng(seed).normal(size=(3 * n + 2, n))
    model = kk.GeneratorEDMD().fit(X, X @ A.T)
    np.testing.assert_allclose(model.generator_matrix_, A.T, atol=1e-9 * (1 + np.abs(A).max()))
    # ... and its eigenvalues are those of A, in continuous time, without a dt (compared through
    # the characteristic polynomial, which stays well conditioned for defective A)
    np.testing.assert_allclose(
        np.poly(np.asarray(model.continuous_eigenvalues_)).real,
        np.poly(A),
        atol=1e-6 * (1 + np.abs(A).max()) ** n,
    )


@given(
    order=st.integers(1, 6),
    coefficients=arrays(np.float64, st.just((7, 2)), elements=finite),
    length=st.integers(0, 5),
)
def test_finite_differences_are_exact_on_polynomials_up_to_their_order(order, coefficients, length):
    dt = 0.1
    t = dt * np.arange(order + 1 + length)
    c = coefficients[: order + 1]  # degree <= order
    X = np.stack([np.polynomial.polynomial.polyval(t, c[:, j]) for j in range(2)], axis=1)
    dX = np.stack(
        [
            np.polynomial.polynomial.polyval(t, np.polynomial.polynomial.polyder(c[:, j]))
            for j in (0, 1)
        ],
        axis=1,
    )
    np.testing.assert_allclose(finite_difference(X, dt, order), dX, atol=1e-7)


@pytest.mark.parametrize("order", [1, 2, 4, 6])
def test_finite_differences_converge_at_their_stated_order(order):
    def error(dt):
        t = dt * np.arange(int(round(2.0 / dt)) + 1)
        X = np.stack([np.sin(3 * t), np.exp(-t)], axis=1)
        dX = np.stack([3 * np.cos(3 * t), -np.exp(-t)], axis=1)
        return np.abs(finite_difference(X, dt, order) - dX).max()

    rate = np.log2(error(0.02) / error(0.01))
    assert order - 0.3 < rate < order + 1.3


def test_finite_difference_weights_are_the_textbook_stencils():
    np.testing.assert_allclose(finite_difference_weights([-1, 0, 1]), [-0.5, 0, 0.5])
    np.testing.assert_allclose(
        finite_difference_weights([-2, -1, 0, 1, 2]), np.array([1, -8, 0, 8, -1]) / 12
    )
    np.testing.assert_allclose(finite_difference_weights([0, 1, 2]), [-1.5, 2, -0.5])


@pytest.mark.parametrize(
    "dictionary",
    [
        Identity(),
        Polynomial(3),
        RBF(n_centers=4, gamma=0.7),
        RandomFourier(n_features=6, gamma=0.5),
        Concat([Identity(), RBF(n_centers=2), Polynomial(2)]),
    ],
    ids=lambda d: type(d).__name__,
)
def test_dictionary_derivatives_match_central_differences(dictionary):
    X = np.random.default_rng(0).normal(size=(6, 3))
    d = dictionary.fit(X)
    h = 1e-5
    J, H = d.jacobian(X), d.hessian(X)
    assert J.shape == (6, d.n_output_features_, 3) and H.shape == (6, d.n_output_features_, 3, 3)
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        np.testing.assert_allclose(
            J[:, :, i], (d.transform(X + e) - d.transform(X - e)) / (2 * h), atol=1e-7
        )
        np.testing.assert_allclose(
            H[:, :, :, i], (d.jacobian(X + e) - d.jacobian(X - e)) / (2 * h), atol=1e-6
        )
    np.testing.assert_allclose(H, np.swapaxes(H, -1, -2), atol=1e-12)


# ------------------------------------------------------------------ systems with known generators


def test_slow_manifold_eigenvalues_and_eigenfunctions_are_exact_from_exact_derivatives():
    system = SlowManifold(mu=-0.1, lam=-1.0)
    X = np.random.default_rng(0).uniform(-1, 1, size=(60, 2))
    model = kk.GeneratorEDMD(Polynomial(2)).fit(X, system.vector_field(0, X))
    omega = np.asarray(model.continuous_eigenvalues_)
    assert _nearest_errors(omega, system.koopman_eigenvalues).max() < 1e-10
    # phi_mu = x1, phi_2mu = x1^2, phi_lam = x2 - b x1^2 with b = lam / (lam - 2 mu), up to scale
    b = system.lam / (system.lam - 2 * system.mu)
    Z = np.random.default_rng(1).uniform(-1, 1, size=(25, 2))
    phi = model.eigenfunctions(Z)
    for rate, exact in (
        (system.mu, Z[:, 0]),
        (2 * system.mu, Z[:, 0] ** 2),
        (system.lam, Z[:, 1] - b * Z[:, 0] ** 2),
    ):
        f = phi[:, np.argmin(np.abs(omega - rate))]
        scale = np.vdot(exact, f) / np.vdot(exact, exact)
        np.testing.assert_allclose(f, scale * exact, atol=1e-9 * np.abs(scale))
    # the generator applied to the coordinates is the vector field (system identification)
    np.testing.assert_allclose(model.drift(Z), system.vector_field(0, Z), atol=1e-10)


def test_slow_manifold_from_trajectories_converges_with_the_finite_difference_order():
    system = SlowManifold(mu=-0.1, lam=-1.0)
    X = system.trajectories(n_traj=10, n_steps=50, dt=0.1, seed=0)
    errors = [
        _nearest_errors(
            kk.GeneratorEDMD(Polynomial(2), fd_order=order).fit(X, dt=0.1).continuous_eigenvalues_,
            system.koopman_eigenvalues,
        ).max()
        for order in (2, 4, 6)
    ]
    assert errors[0] > 10 * errors[1] > 100 * errors[2]
    assert errors[1] < 1e-5


def test_ornstein_uhlenbeck_spectrum_is_exact_with_the_exact_drift_and_diffusion():
    ou = OrnsteinUhlenbeck(theta=0.5, sigma=0.8)
    X = ou.trajectories(1, 300, 0.05, seed=0)[0]
    model = kk.GeneratorEDMD(Polynomial(4)).fit(X, ou.vector_field(0, X), sigma=np.array([[0.8]]))
    np.testing.assert_allclose(
        model.continuous_eigenvalues_.real, ou.generator_eigenvalues(4), atol=1e-9
    )
    np.testing.assert_allclose(model.continuous_eigenvalues_.imag, 0, atol=1e-12)
    # eigenfunctions: Hermite polynomials He_k(x / s), s the stationary standard deviation
    Z = np.linspace(-2, 2, 15)[:, None]
    phi = model.eigenfunctions(Z)
    for k in range(5):
        f, exact = phi[:, k], ou.eigenfunction(Z[:, 0], k)
        scale = np.vdot(exact, f) / np.vdot(exact, exact)
        np.testing.assert_allclose(f, scale * exact, atol=1e-8 * np.abs(scale))
    # without the second-order term the spectrum is that of the ODE x' = -theta x: also
    # -k theta, but the eigenfunctions are the monomials x^k, not He_k
    ode = kk.GeneratorEDMD(Polynomial(4)).fit(X, ou.vector_field(0, X))
    f = ode.eigenfunctions(Z)[:, 2]
    assert np.abs(f / f[-1] - Z[:, 0] ** 2 / 4).max() < 1e-8


def test_ornstein_uhlenbeck_from_sample_paths_by_kramers_moyal():
    ou = OrnsteinUhlenbeck(theta=0.5, sigma=0.8)
    X = ou.trajectories(200, 400, 0.01, seed=0)
    model = kk.GeneratorEDMD(Polynomial(2), stochastic=True).fit(X, dt=0.01)
    omega = np.asarray(model.continuous_eigenvalues_).real
    # sampling error dominates (80k correlated samples): -theta within 10 %, -2 theta within 25 %
    assert abs(omega[1] + 0.5) < 0.05 and abs(omega[2] + 1.0) < 0.25 and abs(omega[0]) < 1e-10
    # the same data through the discrete route, EDMD and log(lambda) / dt: the same estimate
    edmd = kk.EDMD(Polynomial(2)).fit(X)
    np.testing.assert_allclose(edmd.continuous_eigenvalues(0.01).real, omega, atol=0.02)
    # the diffusion shows in the eigenfunction: phi_2 ∝ He_2(x / s) = x^2 / s^2 - 1, so its
    # offset is s^2; the drift alone (an ODE) would give x^2 with no offset
    Z = np.linspace(-2, 2, 9)[:, None]
    slope, intercept = np.polyfit(Z[:, 0] ** 2, model.eigenfunctions(Z)[:, 2].real, 1)
    assert abs(-intercept / slope - ou.stationary_std**2) < 0.15 * ou.stationary_std**2
    # the known diffusion instead of its estimate: the same within the sampling error
    known = kk.GeneratorEDMD(Polynomial(2), stochastic=True).fit(X, dt=0.01, sigma=[[0.8]])
    np.testing.assert_allclose(known.continuous_eigenvalues_.real, omega, atol=0.02)
    # finite differences on a noisy path are not the drift: refused without stochastic=True
    with pytest.raises(ValueError, match="stochastic=True"):
        kk.GeneratorEDMD(Polynomial(2)).fit(X, dt=0.01, sigma=[[0.8]])


def test_ornstein_uhlenbeck_paths_have_the_stationary_variance_and_are_reproducible():
    ou = OrnsteinUhlenbeck(theta=2.0, sigma=1.0, dim=2)
    X = ou.trajectories(50, 400, 0.1, seed=3)
    assert abs(X.std() - ou.stationary_std) < 0.02
    np.testing.assert_array_equal(X, ou.trajectories(50, 400, 0.1, seed=3))
    assert ou.diffusion(X[0]).shape == (401, 2, 2)


# ------------------------------------------------------------------ the time-dt operator


def test_time_dt_koopman_matrix_is_the_exponential_and_matches_edmd_on_flow_samples():
    A = np.array([[-0.1, 1.0], [-1.0, -0.2]])
    system = LinearSystem(A)
    X = system.trajectories(5, 30, 0.1, seed=0)
    gen = kk.GeneratorEDMD().fit(X.reshape(-1, 2), X.reshape(-1, 2) @ A.T)
    edmd = kk.EDMD().fit(X)
    np.testing.assert_allclose(gen.koopman_matrix(0.1), scipy.linalg.expm(0.1 * A).T, atol=1e-12)
    np.testing.assert_allclose(gen.koopman_matrix(0.1), edmd.koopman_matrix_, atol=1e-10)
    np.testing.assert_allclose(
        np.sort_complex(gen.discrete_eigenvalues(0.1)),
        np.sort_complex(edmd.eigenvalues_),
        atol=1e-10,
    )
    spec = gen.spectrum(dt=0.1)
    np.testing.assert_allclose(spec.continuous_eigenvalues, gen.continuous_eigenvalues_, atol=1e-12)
    x0 = np.array([0.7, -0.3])
    np.testing.assert_allclose(gen.predict(x0, 40, 0.1), system.simulate(x0, 40, 0.1), atol=1e-12)
    assert gen.predict(X[:3, 0], 4, 0.1).shape == (3, 5, 2)


def test_torch_in_gives_torch_out():
    torch = pytest.importorskip("torch")
    system = SlowManifold(mu=-0.1, lam=-1.0)
    X = system.trajectories(n_traj=5, n_steps=30, dt=0.1, seed=0)
    model = kk.GeneratorEDMD(Concat([Identity(), RBF(n_centers=10)])).fit(
        torch.as_tensor(X), dt=0.1
    )
    reference = kk.GeneratorEDMD(Concat([Identity(), RBF(n_centers=10)])).fit(X, dt=0.1)
    assert isinstance(model.continuous_eigenvalues_, torch.Tensor)
    np.testing.assert_allclose(
        model.continuous_eigenvalues_.numpy(), reference.continuous_eigenvalues_, atol=1e-8
    )
    out = model.predict(torch.as_tensor(X[0, 0]), 3, 0.1)
    assert isinstance(out, torch.Tensor) and out.shape == (4, 2)
    assert isinstance(model.eigenfunctions(torch.as_tensor(X[0])), torch.Tensor)


def test_plot_summary_shows_continuous_rates_without_dt_and_the_flow_with_it():
    import matplotlib.pyplot as plt

    system = SlowManifold(mu=-0.1, lam=-1.0)
    X = np.random.default_rng(0).uniform(-1, 1, size=(60, 2))
    model = kk.GeneratorEDMD(Polynomial(2)).fit(X, system.vector_field(0, X))
    fig = kk.analysis.plot_summary(model, X)
    _, ax_disc, ax_cont = fig.subfigs[0].axes
    assert "pass dt" in ax_disc.texts[0].get_text()
    drawn = np.concatenate([c.get_offsets() for c in ax_cont.collections])
    assert _nearest_errors(drawn[:, 0], system.koopman_eigenvalues).max() < 1e-10
    fig = kk.analysis.plot_summary(model, X, dt=0.5)
    drawn = np.concatenate([c.get_offsets() for c in fig.subfigs[0].axes[1].collections])
    assert _nearest_errors(drawn[:, 0], np.exp(0.5 * system.koopman_eigenvalues)).max() < 1e-10
    plt.close("all")


# ------------------------------------------------------------------ errors


def test_bad_input_gets_clear_errors():
    X = np.random.default_rng(0).normal(size=(20, 2))
    dX = -X
    with pytest.raises(ValueError, match="dX or the time step dt, not both"):
        kk.GeneratorEDMD().fit(X, dX, dt=0.1)
    with pytest.raises(ValueError, match=r"fit\(X, dX\)"):
        kk.GeneratorEDMD().fit(X)
    with pytest.raises(ValueError, match="X and dX must have the same shape"):
        kk.GeneratorEDMD().fit(X, dX[:-1])
    with pytest.raises(ValueError, match="NaN or Inf"):
        kk.GeneratorEDMD().fit(np.where(X > 1, np.nan, X), dX)
    with pytest.raises(ValueError, match="NaN or Inf"):
        kk.GeneratorEDMD().fit(X, np.where(X > 1, np.inf, dX))
    with pytest.raises(ValueError, match="dt must be a positive finite number"):
        kk.GeneratorEDMD().fit(X, dt=-0.1)
    with pytest.raises(ValueError, match="fd_order must be an integer >= 1"):
        kk.GeneratorEDMD(fd_order=-1).fit(X, dt=0.1)
    with pytest.raises(ValueError, match="at least 5 snapshots"):
        kk.GeneratorEDMD(fd_order=4).fit(X[:4], dt=0.1)
    with pytest.raises(ValueError, match="at least 2 snapshots"):
        kk.GeneratorEDMD(stochastic=True).fit(X[:1], dt=0.1)
    with pytest.raises(ValueError, match=r"sigma must be the noise coefficient of shape \(2, d\)"):
        kk.GeneratorEDMD().fit(X, dX, sigma=np.ones((3, 3)))
    with pytest.raises(ValueError, match="needs sigma"):
        kk.GeneratorEDMD(stochastic=True).fit(X, dX)
    with pytest.raises(ValueError, match="no analytic derivatives"):
        from sklearn.preprocessing import PolynomialFeatures

        kk.GeneratorEDMD(SklearnTransformer(PolynomialFeatures(2))).fit(X, dX)
    with pytest.raises(ValueError, match="Complex data not supported"):
        kk.GeneratorEDMD().fit(X + 1j, dX)
    with pytest.raises(ValueError, match="regularization must be >= 0"):
        kk.GeneratorEDMD(regularization=-1.0).fit(X, dX)
    with pytest.raises(kk.NotFittedError, match="not fitted"):
        kk.GeneratorEDMD().predict(X[0], 3, 0.1)
    model = kk.GeneratorEDMD().fit(X, dX)
    with pytest.raises(ValueError, match=r"x0 must have shape \(2,\)"):
        model.predict(np.zeros(3), 3, 0.1)
    with pytest.raises(ValueError, match="dt must be a positive finite number"):
        model.koopman_matrix(0.0)
    with pytest.raises(ValueError, match="contains the state"):
        kk.GeneratorEDMD(RBF(n_centers=5)).fit(X, dX).drift(X)


def test_generator_module_imports_neither_torch_nor_peers():
    import subprocess
    import sys

    code = "import sys, koopkit.gedmd\nprint('torch' in sys.modules, 'pydmd' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_finite_differences_of_a_batch_are_those_of_each_trajectory():
    X = np.random.default_rng(0).normal(size=(3, 12, 2)).cumsum(axis=1)
    batch = finite_difference(X, 0.5, 3)
    for i in range(3):
        np.testing.assert_allclose(batch[i], finite_difference(X[i], 0.5, 3), atol=1e-12)
    model = kk.GeneratorEDMD(Polynomial(2), fd_order=3)
    as_batch = model.fit(X, dt=0.5).generator_matrix_
    as_list = kk.GeneratorEDMD(Polynomial(2), fd_order=3).fit(list(X), dt=0.5).generator_matrix_
    np.testing.assert_allclose(as_batch, as_list, atol=1e-10)


def test_example14_finds_the_known_generators_and_saves_its_figures(tmp_path):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "14_generator_edmd.py"
    spec = importlib.util.spec_from_file_location("koopkit_example_14", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(["--out", str(tmp_path)])
    sm = results["slow_manifold"]
    assert max(sm["eigenvalue_errors"]) < 1e-12 and sm["drift_error"] < 1e-12
    for row in sm["fd_errors"].values():  # higher order, smaller error, at every dt
        assert row[0] > row[1] > row[2] > row[3]
    ou = results["ornstein_uhlenbeck"]
    np.testing.assert_allclose(ou["estimated"][:3], ou["exact"][:3], atol=0.1)
    for name in ("generator.png", "generator_summary.png"):
        assert (tmp_path / name).stat().st_size > 20_000
