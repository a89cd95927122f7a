"""EDMD, kernel EDMD and dictionaries: exact closures, laws of the lifted rollout, errors."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit import DMD, EDMD, KernelEDMD
from koopkit.dictionaries import RBF, Concat, Identity, Polynomial, RandomFourier
from koopkit.systems import LinearSystem, SlowManifold

DT = 0.1


@pytest.fixture(scope="module")
def slow_manifold_data():
    sm = SlowManifold(mu=-0.1, lam=-1.0)
    return sm, sm.trajectories(20, 30, DT, seed=0)


def nearest_error(estimated, value):
    return np.min(np.abs(np.asarray(estimated) - value))


def test_edmd_polynomial2_recovers_slow_manifold_eigenvalues(slow_manifold_data):
    sm, X = slow_manifold_data
    edmd = EDMD(dictionary=Polynomial(degree=2)).fit(X)
    for lam in [1.0, *sm.discrete_koopman_eigenvalues(DT)]:  # 1 from the constant
        assert nearest_error(edmd.eigenvalues_, lam) < 1e-8
    # phi(F(x)) = lambda phi(x) for the exact eigenfunctions
    Xp, Yp = X[:, :-1].reshape(-1, 2), X[:, 1:].reshape(-1, 2)
    phi_x, phi_y = edmd.eigenfunctions(Xp), edmd.eigenfunctions(Yp)
    for lam in sm.discrete_koopman_eigenvalues(DT):
        j = int(np.argmin(np.abs(edmd.eigenvalues_ - lam)))
        np.testing.assert_allclose(phi_y[:, j], lam * phi_x[:, j], atol=1e-9)


def test_edmd_eigenfunction_for_lambda_is_x2_minus_b_x1_squared(slow_manifold_data):
    sm, X = slow_manifold_data
    edmd = EDMD(dictionary=Polynomial(degree=2)).fit(X)
    j = int(np.argmin(np.abs(edmd.eigenvalues_ - np.exp(sm.lam * DT))))
    pts = np.random.default_rng(1).normal(size=(50, 2))
    b = sm.lam / (sm.lam - 2 * sm.mu)
    target = pts[:, 1] - b * pts[:, 0] ** 2
    phi = edmd.eigenfunctions(pts)[:, j]
    scale = phi[0] / target[0]
    np.testing.assert_allclose(phi, scale * target, atol=1e-8 * abs(scale))


def test_edmd_with_identity_dictionary_is_dmd():
    A = np.array([[-0.1, 1.0, 0.0], [-1.0, -0.1, 0.0], [0.0, 0.0, -0.5]])
    X = LinearSystem(A).trajectories(3, 20, DT, seed=2)
    edmd = EDMD(dictionary=Identity()).fit(X)
    dmd = DMD(rank=-1).fit(X)
    np.testing.assert_allclose(edmd.eigenvalues_, dmd.eigenvalues_, rtol=1e-10)
    np.testing.assert_allclose(edmd.koopman_matrix_, LinearSystem(A).flow_matrix(DT).T, atol=1e-9)


def test_regularization_is_tikhonov_on_normalized_gram(slow_manifold_data):
    _, X = slow_manifold_data
    Xp, Yp = X[:, :-1].reshape(-1, 2), X[:, 1:].reshape(-1, 2)
    alpha = 0.05
    edmd = EDMD(dictionary=Polynomial(2), regularization=alpha).fit(Xp, Yp)
    px, py = Polynomial(2).fit_transform(Xp), Polynomial(2).fit(Xp).transform(Yp)
    m = px.shape[0]
    K = np.linalg.solve(px.T @ px / m + alpha * np.eye(6), px.T @ py / m)
    np.testing.assert_allclose(edmd.koopman_matrix_, K, atol=1e-10)
    plain = EDMD(dictionary=Polynomial(2)).fit(Xp, Yp)
    assert np.abs(edmd.eigenvalues_).max() < np.abs(plain.eigenvalues_).max()


def test_edmd_rank_truncates_the_spectrum(slow_manifold_data):
    _, X = slow_manifold_data
    edmd = EDMD(dictionary=Polynomial(3), rank=4).fit(X)
    assert edmd.eigenvalues_.shape == (4,) and edmd.modes_.shape == (2, 4)
    assert edmd.eigenfunctions(X[0]).shape == (31, 4)


@given(
    k=st.integers(0, 20),
    x0=st.lists(st.floats(-1.5, 1.5), min_size=2, max_size=2),
)
def test_edmd_predict_is_koopman_matrix_power(slow_manifold_data, k, x0):
    """With the state in the dictionary: predict(x0, k)[k] = psi(x0) K^k B."""
    _, X = slow_manifold_data
    edmd = EDMD(dictionary=Polynomial(2)).fit(X)
    x0 = np.array(x0)
    psi = edmd.dictionary_.transform(x0[None])
    expected = (
        psi @ np.linalg.matrix_power(edmd.koopman_matrix_, k) @ edmd.dictionary_.state_matrix_
    )
    np.testing.assert_allclose(edmd.predict(x0, k)[k], expected[0], atol=1e-8)


@pytest.mark.parametrize("dictionary", [Identity(), Polynomial(2)], ids=repr)
def test_full_rank_prediction_is_exact_for_a_near_defective_koopman_matrix(dictionary):
    """A Jordan block has (numerically) parallel eigenvectors, cond ~1e8: the rollout must
    not go through their inverse, it is x0 (J^T)^k to round-off."""
    J = np.array([[0.9, 1.0], [0.0, 0.9]])
    X = np.empty((5, 30, 2))
    X[:, 0] = np.random.default_rng(0).normal(size=(5, 2))
    for k in range(29):
        X[:, k + 1] = X[:, k] @ J.T
    edmd = EDMD(dictionary=dictionary).fit(X)
    assert edmd.rank_ == edmd.dictionary_.n_output_features_
    x0 = np.array([[1.0, -0.5], [0.3, 2.0]])
    expected = np.stack([x0 @ np.linalg.matrix_power(J.T, k) for k in range(41)], axis=1)
    np.testing.assert_allclose(edmd.predict(x0, 40), expected, rtol=0, atol=1e-11)
    # the spectrum is still the modal form: modes_ @ phi(x0) reproduces x0
    np.testing.assert_allclose(edmd.modes_ @ edmd.eigenfunctions(x0).T, x0.T, atol=1e-6)


def test_truncated_modes_are_the_least_squares_fit_on_the_eigenfunctions(slow_manifold_data):
    _, X = slow_manifold_data
    edmd = EDMD(dictionary=Polynomial(3), rank=5).fit(X)
    Xp = X[:, :-1].reshape(-1, 2)
    phi = edmd.eigenfunctions(Xp)
    np.testing.assert_allclose(edmd.modes_.T, np.linalg.lstsq(phi, Xp, rcond=None)[0], atol=1e-9)


@pytest.mark.parametrize(
    "model",
    [
        EDMD(dictionary=Polynomial(3), rank=5),
        EDMD(dictionary=RBF(centers=np.random.default_rng(0).normal(size=(12, 2)), gamma=0.5)),
        EDMD(dictionary=Polynomial(2), estimator="rrr", rank=3),
        KernelEDMD(gamma=0.5, rank=8),
    ],
    ids=repr,
)
def test_predict_is_the_modal_sum(slow_manifold_data, model):
    """x_k = Re(modes_ @ (eigenvalues_**k * phi(x0))), whichever way predict evaluates it."""
    _, X = slow_manifold_data
    model.fit(X[:8])
    x0 = np.array([[0.7, -0.4], [-1.0, 0.5]])
    phi = model.eigenfunctions(x0)  # (2, r)
    k = np.arange(13)
    expected = np.real(
        np.einsum("nr,kr,br->bkn", model.modes_, model.eigenvalues_[None] ** k[:, None], phi)
    )
    np.testing.assert_allclose(model.predict(x0, 12), expected, atol=1e-9)


def test_kernel_edmd_polynomial_kernel_recovers_slow_manifold(slow_manifold_data):
    sm, X = slow_manifold_data
    kedmd = KernelEDMD(kernel="polynomial", degree=2, rank=6).fit(X[:8])
    for lam in [1.0, *sm.discrete_koopman_eigenvalues(DT)]:
        assert nearest_error(kedmd.eigenvalues_, lam) < 1e-7
    np.testing.assert_allclose(kedmd.predict(X[0, 0], 30), X[0], atol=1e-8)


def test_kernel_edmd_rbf_approximates_leading_eigenvalues(slow_manifold_data):
    sm, X = slow_manifold_data
    kedmd = KernelEDMD(kernel="rbf", gamma=0.5, rank=40).fit(X[:10])
    for lam in [1.0, *sm.discrete_koopman_eigenvalues(DT)]:
        assert nearest_error(kedmd.eigenvalues_, lam) < 1e-3
    assert np.abs(kedmd.predict(X[0, 0], 30) - X[0]).max() < 1e-3


def test_torch_round_trip_for_edmd_and_kernel_edmd(slow_manifold_data):
    _, X = slow_manifold_data
    ref = EDMD(dictionary=Concat([Identity(), Polynomial(2, include_bias=False)]), rank=5).fit(X)
    edmd = EDMD(dictionary=Concat([Identity(), Polynomial(2, include_bias=False)]), rank=5)
    edmd.fit(torch.from_numpy(X))
    assert isinstance(edmd.eigenvalues_, torch.Tensor)
    np.testing.assert_allclose(edmd.eigenvalues_.numpy(), ref.eigenvalues_, rtol=1e-8)
    out = edmd.predict(torch.from_numpy(X[0, 0]), 4)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), ref.predict(X[0, 0], 4), atol=1e-8)
    k32 = KernelEDMD(gamma=0.5, rank=10).fit(torch.from_numpy(X[:5].astype(np.float32)))
    assert k32.eigenvalues_.dtype == torch.complex64
    assert k32.eigenfunctions(torch.from_numpy(X[0].astype(np.float32))).shape == (31, 10)


@given(st.integers(1, 4), st.integers(1, 3), st.booleans())
def test_polynomial_dictionary_counts_and_contains_state(n, degree, bias):
    X = np.random.default_rng(n + degree).normal(size=(7, n))
    poly = Polynomial(degree, include_bias=bias).fit(X)
    features = poly.transform(X)
    expected = math.comb(n + degree, degree) - (0 if bias else 1)
    assert features.shape == (7, expected) == (7, poly.n_output_features_)
    assert len(poly.feature_names()) == expected
    np.testing.assert_allclose(features @ poly.state_matrix_, X, atol=1e-12)


def test_dictionary_feature_names_and_concat_state_matrix():
    X = np.random.default_rng(0).normal(size=(10, 2))
    poly = Polynomial(2).fit(X)
    assert poly.feature_names(["a", "b"]) == ["1", "a", "b", "a^2", "a b", "b^2"]
    cat = Concat([RBF(n_centers=4, gamma=0.5), Identity()]).fit(X)
    assert cat.transform(X).shape == (10, 6)
    np.testing.assert_allclose(cat.transform(X) @ cat.state_matrix_, X)
    assert cat.feature_names()[-2:] == ["x0", "x1"]
    assert Concat([RBF(n_centers=3)]).fit(X).state_matrix_ is None


def test_rbf_centers_reproducible_and_explicit():
    X = np.random.default_rng(0).normal(size=(30, 3))
    a = RBF(n_centers=5, seed=3).fit(X).centers_
    np.testing.assert_array_equal(a, RBF(n_centers=5, seed=3).fit(X).centers_)
    rbf = RBF(centers=X[:2], gamma=2.0).fit(X)
    np.testing.assert_allclose(rbf.transform(X[:2]).diagonal(), 1.0)
    np.testing.assert_allclose(
        rbf.transform(X[:1])[0, 1], np.exp(-2.0 * np.sum((X[0] - X[1]) ** 2))
    )


def test_random_fourier_features_approximate_rbf_kernel():
    X = np.random.default_rng(0).normal(scale=0.5, size=(20, 2))
    rff = RandomFourier(n_features=4000, gamma=0.7, seed=1).fit(X)
    Z = rff.transform(X)
    d2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    np.testing.assert_allclose(Z @ Z.T, np.exp(-0.7 * d2), atol=0.06)


def test_sklearn_clone_and_nested_params():
    from sklearn.base import clone

    edmd = EDMD(dictionary=Polynomial(3), regularization=1e-3)
    assert edmd.get_params()["dictionary__degree"] == 3
    edmd.set_params(dictionary__degree=2)
    assert edmd.dictionary.degree == 2
    twin = clone(edmd)
    assert twin.dictionary is not edmd.dictionary and twin.dictionary.degree == 2
    assert clone(KernelEDMD(rank=3)).rank == 3


def test_edmd_value_errors(slow_manifold_data):
    _, X = slow_manifold_data
    with pytest.raises(ValueError, match="not fitted"):
        EDMD().eigenfunctions(X[0])
    with pytest.raises(ValueError, match="not fitted"):
        Polynomial(2).transform(X[0])
    with pytest.raises(ValueError, match="regularization"):
        EDMD(regularization=-1.0).fit(X)
    with pytest.raises(ValueError, match="same shape"):
        EDMD().fit(X[0, :-1], X[0, 1:-1])
    with pytest.raises(ValueError, match="NaN or Inf"):
        EDMD().fit(np.full((5, 2), np.inf))
    with pytest.raises(ValueError, match="larger than the data"):
        EDMD(dictionary=Polynomial(2), rank=9).fit(X)
    edmd = EDMD(dictionary=Polynomial(2)).fit(X)
    with pytest.raises(ValueError, match=r"shape \(m, 2\)"):
        edmd.eigenfunctions(np.ones((3, 3)))
    with pytest.raises(ValueError, match="kernel must be"):
        KernelEDMD(kernel="laplace").fit(X)
    with pytest.raises(ValueError, match="rank must be None or an integer"):
        KernelEDMD(rank=10_000).fit(X)
    with pytest.raises(ValueError, match="n_centers"):
        RBF(n_centers=1000).fit(X[0])
    with pytest.raises(ValueError, match="degree"):
        Polynomial(0).fit(X[0])


@pytest.mark.parametrize(
    "estimator",
    [DMD(rank=3), EDMD(dictionary=Polynomial(2)), KernelEDMD(rank=3), Polynomial(3), RBF(3)],
    ids=lambda e: type(e).__name__,
)
def test_scikit_learn_parameter_checks(estimator):
    from sklearn.utils import estimator_checks as checks

    name = type(estimator).__name__
    checks.check_parameters_default_constructible(name, estimator)
    checks.check_no_attributes_set_in_init(name, estimator)
    checks.check_get_params_invariance(name, estimator)
    checks.check_set_params(name, estimator)
    checks.check_estimator_repr(name, estimator)
