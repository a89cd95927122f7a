"""DMDc and EDMDc: exact recovery of known control systems, laws against DMD/EDMD, errors."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit import DMD, EDMD, DMDc, EDMDc
from koopkit.dictionaries import Polynomial


def random_control_system(n=5, q=2, seed=0, radius=0.95):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(n, n))
    A *= radius / max(abs(np.linalg.eigvals(A)))
    return A, rng.normal(size=(n, q))


def simulate(A, B, x0, U):
    """x_{k+1} = A x_k + B u_k for a batch: x0 (n_traj, n), U (n_traj, T - 1, q)."""
    X = [x0]
    for k in range(U.shape[1]):
        X.append(X[-1] @ A.T + U[:, k] @ B.T)
    return np.stack(X, axis=1)


def match_error(estimated, true):
    """Largest distance from a true eigenvalue to its nearest estimate."""
    return max(np.min(np.abs(np.asarray(estimated) - lam)) for lam in true)


def control_data(n=5, q=2, n_traj=3, T=40, seed=0):
    A, B = random_control_system(n, q, seed)
    rng = np.random.default_rng(seed + 1)
    U = rng.normal(size=(n_traj, T - 1, q))
    return A, B, simulate(A, B, rng.normal(size=(n_traj, n)), U), U


def test_dmdc_recovers_known_state_and_input_matrices():
    A, B, X, U = control_data()
    model = DMDc().fit(X, U)
    assert model.rank_ == 5 and model.rank_omega_ == 7
    np.testing.assert_allclose(model.A_, A, atol=1e-8)
    np.testing.assert_allclose(model.B_, B, atol=1e-8)
    np.testing.assert_allclose(model.basis_, np.eye(5))
    assert match_error(model.eigenvalues_, np.linalg.eigvals(A)) < 1e-9
    np.testing.assert_allclose(
        model.A_ @ model.modes_, model.modes_ * model.eigenvalues_, atol=1e-10
    )
    np.testing.assert_allclose(model.predict(X[1, 0], U[1]), X[1], atol=1e-9)
    np.testing.assert_allclose(model.predict(X[:, 0], U), X, atol=1e-9)


def test_dmdc_single_trajectory_and_list_layouts_agree():
    A, B, X, U = control_data(n_traj=2, T=30)
    single = DMDc().fit(X[0], U[0])
    as_list = DMDc().fit([X[0], X[1][:12]], [U[0], U[1][:11]])
    for model in (single, as_list):
        np.testing.assert_allclose(model.A_, A, atol=1e-8)
        np.testing.assert_allclose(model.B_, B, atol=1e-8)


def test_dmdc_truncated_state_recovers_the_hidden_low_dimensional_system():
    A, B, S, U = control_data(n=4, q=1, n_traj=4, T=30)
    Q = np.linalg.qr(np.random.default_rng(5).normal(size=(60, 4)))[0]
    X = S @ Q.T  # 60 observed features of a 4-D system
    model = DMDc(rank=4).fit(X, U)
    assert model.A_.shape == (4, 4) and model.B_.shape == (4, 1) and model.basis_.shape == (60, 4)
    assert match_error(model.eigenvalues_, np.linalg.eigvals(A)) < 1e-9
    np.testing.assert_allclose(model.predict(X[2, 0], U[2]), X[2], atol=1e-8)
    # The exact DMDc modes are eigenvectors of the full-state map Q A Q^T.
    full = Q @ A @ Q.T
    np.testing.assert_allclose(full @ model.modes_, model.modes_ * model.eigenvalues_, atol=1e-9)


@given(seed=st.integers(0, 10_000), q=st.integers(1, 3))
def test_dmdc_without_input_effect_equals_dmd(seed, q):
    A, _ = random_control_system(n=4, q=q, seed=seed)
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(2, 25, q))
    X = simulate(A, np.zeros((4, q)), rng.normal(size=(2, 4)), U)
    control = DMDc().fit(X, U)
    dmd = DMD(rank=-1).fit(X)
    np.testing.assert_allclose(control.B_, 0.0, atol=1e-8)
    np.testing.assert_allclose(control.A_, dmd.basis_ @ dmd.operator_ @ dmd.basis_.T, atol=1e-8)
    np.testing.assert_allclose(control.eigenvalues_, dmd.eigenvalues_, atol=1e-8)
    # Zero inputs carry no information: they are dropped and DMDc is DMD exactly.
    zero = DMDc().fit(X, np.zeros_like(U))
    assert zero.rank_omega_ == 4
    np.testing.assert_allclose(zero.A_, control.A_, atol=1e-8)


@given(seed=st.integers(0, 10_000), n_steps=st.integers(0, 12))
def test_dmdc_unforced_rollout_is_a_matrix_power(seed, n_steps):
    A, B, X, U = control_data(n=3, q=1, seed=seed)
    model = DMDc().fit(X, U)
    x0 = np.random.default_rng(seed).normal(size=3)
    out = model.predict(x0, np.zeros((n_steps, 1)))
    assert out.shape == (n_steps + 1, 3)
    np.testing.assert_allclose(out[-1], np.linalg.matrix_power(model.A_, n_steps) @ x0, atol=1e-9)


def lifted_system_data(a=0.9, c=0.5, d=0.3, b=0.7, n_traj=6, T=15, seed=0):
    """x1' = a x1, x2' = c x2 + d x1^2 + b u: linear in (1, x1, x2, x1^2, ...) and in u."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n_traj, T, 2))
    X[:, 0] = rng.uniform(-1, 1, size=(n_traj, 2))
    U = rng.normal(size=(n_traj, T - 1, 1))
    for k in range(T - 1):
        x1, x2 = X[:, k, 0], X[:, k, 1]
        X[:, k + 1] = np.stack([a * x1, c * x2 + d * x1**2 + b * U[:, k, 0]], axis=1)
    return X, U


def test_edmdc_polynomial_dictionary_recovers_an_exact_lifted_system():
    X, U = lifted_system_data()
    model = EDMDc(dictionary=Polynomial(degree=2)).fit(X, U)
    names = model.dictionary_.feature_names()  # 1, x0, x1, x0^2, x0 x1, x1^2
    x2 = names.index("x1")
    # u enters only x2's equation, with gain b = 0.7; the monomials of degree 2 that hold
    # x2 are not closed under this input, so check the closed block: 1, x1, x2, x1^2.
    closed = [names.index(k) for k in ("1", "x0", "x1", "x0^2")]
    np.testing.assert_allclose(model.B_[closed, 0], [0, 0, 0.7, 0], atol=1e-8)
    np.testing.assert_allclose(model.A_[x2, closed], [0, 0, 0.5, 0.3], atol=1e-8)
    for lam in [1.0, 0.9, 0.5, 0.81]:
        assert np.min(np.abs(model.eigenvalues_ - lam)) < 1e-8
    np.testing.assert_allclose(model.predict(X[0, 0], U[0]), X[0], atol=1e-8)
    phi = model.eigenfunctions(X[0])
    assert phi.shape == (15, 6)


def test_edmdc_with_identity_dictionary_is_dmdc():
    A, B, X, U = control_data(n=4, q=2, seed=3)
    edmdc = EDMDc().fit(X, U)
    np.testing.assert_allclose(edmdc.A_, DMDc().fit(X, U).A_, atol=1e-10)
    np.testing.assert_allclose(edmdc.B_, B, atol=1e-8)
    np.testing.assert_allclose(edmdc.koopman_matrix_, edmdc.A_.T)
    np.testing.assert_allclose(edmdc.C_, np.eye(4))
    x = X[0, :5]
    np.testing.assert_allclose(np.real(edmdc.eigenfunctions(x) @ edmdc.modes_.T), x, atol=1e-9)
    # Without inputs' effect the unforced part is EDMD's matrix.
    Y = simulate(A, 0 * B, X[:, 0], U)
    np.testing.assert_allclose(
        EDMDc().fit(Y, U).koopman_matrix_, EDMD().fit(Y).koopman_matrix_, atol=1e-8
    )


def test_control_models_round_trip_torch_and_float32():
    A, B, X, U = control_data(n=3, q=1)
    Xt, Ut = torch.from_numpy(X), torch.from_numpy(U)
    for model in (DMDc().fit(Xt, Ut), EDMDc(dictionary=Polynomial(2)).fit(Xt, Ut)):
        assert isinstance(model.A_, torch.Tensor) and model.eigenvalues_.dtype == torch.complex128
        out = model.predict(Xt[0, 0], Ut[0])
        assert isinstance(out, torch.Tensor) and out.shape == (40, 3)
        np.testing.assert_allclose(out.numpy(), X[0], atol=1e-7)
    m32 = DMDc().fit(X.astype(np.float32), U.astype(np.float32))
    assert m32.A_.dtype == np.float32 and m32.eigenvalues_.dtype == np.complex64
    np.testing.assert_allclose(m32.A_, A, atol=1e-4)


def test_control_input_errors_name_the_expected_shape():
    A, B, X, U = control_data(n=3, q=1, n_traj=2, T=10)
    with pytest.raises(ValueError, match=r"T - 1 = 9 rows"):
        DMDc().fit(X[0], U[0][:8])
    with pytest.raises(ValueError, match=r"T - 1 = 9 rows"):
        DMDc().fit(X[0], np.zeros((10, 1)))
    with pytest.raises(ValueError, match=r"\(2, 9, q\)"):
        DMDc().fit(X, U[0])
    with pytest.raises(ValueError, match="list of 2 input arrays"):
        DMDc().fit([X[0], X[1]], U[0])
    bad = U.copy()
    bad[1, 3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        EDMDc().fit(X, bad)
    with pytest.raises(ValueError, match="at least 2 snapshots"):
        DMDc().fit(X[0, :1], U[0, :0])
    with pytest.raises(ValueError, match="not fitted"):
        DMDc().predict(X[0, 0], U[0])
    model = DMDc().fit(X, U)
    with pytest.raises(ValueError, match=r"U must have shape \(n_steps, 1\)"):
        model.predict(X[0, 0], np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"x0 must have shape \(3,\)"):
        model.predict(np.zeros(4), U[0])
    with pytest.raises(ValueError, match="svd must be one of"):
        DMDc(svd="qr").fit(X, U)
    with pytest.raises(ValueError, match="regularization"):
        EDMDc(regularization=-1.0).fit(X, U)
    # A 1-D input sequence is a single input channel.
    assert DMDc().fit(X[0], U[0, :, 0]).n_inputs_ == 1
