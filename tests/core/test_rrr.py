"""Reduced-rank regression for EDMD and kernel EDMD: laws against ridge/PCR, rank, errors."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit import EDMD, KernelEDMD
from koopkit.dictionaries import Identity, Polynomial, RandomFourier
from koopkit.systems import Duffing, SlowManifold

DT = 0.1


@pytest.fixture(scope="module")
def duffing():
    return Duffing().trajectories(5, 30, DT, seed=0)


def sorted_eigs(values):
    values = np.asarray(values)
    return values[np.lexsort((values.imag, np.round(values.real, 8)))]


@given(seed=st.integers(0, 10_000), reg=st.sampled_from([0.0, 1e-6, 1e-3, 0.1]))
def test_full_rank_rrr_is_the_ridge_estimator(seed, reg):
    X = SlowManifold(mu=-0.1, lam=-1.0).trajectories(6, 15, DT, seed=seed)
    X = X + 0.01 * np.random.default_rng(seed).normal(size=X.shape)
    pcr = EDMD(dictionary=Polynomial(3), regularization=reg).fit(X)
    rrr = EDMD(dictionary=Polynomial(3), regularization=reg, estimator="rrr").fit(X)
    scale = np.abs(pcr.koopman_matrix_).max()
    np.testing.assert_allclose(rrr.koopman_matrix_, pcr.koopman_matrix_, atol=1e-8 * scale)
    np.testing.assert_allclose(
        sorted_eigs(rrr.eigenvalues_), sorted_eigs(pcr.eigenvalues_), atol=1e-7
    )


@given(seed=st.integers(0, 10_000), reg=st.sampled_from([0.0, 1e-4, 1e-2]))
def test_full_rank_kernel_rrr_is_kernel_ridge(seed, reg):
    # Twelve spread-out pairs: a well-conditioned Gram matrix, every direction resolved.
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(12, 2))
    Y = np.stack([SlowManifold(mu=-0.1, lam=-1.0).simulate(x, 1, DT)[1] for x in X])
    pcr = KernelEDMD(gamma=1.0, regularization=reg).fit(X, Y)
    rrr = KernelEDMD(gamma=1.0, regularization=reg, estimator="rrr").fit(X, Y)
    assert pcr.rank_ == rrr.rank_ == 12
    np.testing.assert_allclose(
        sorted_eigs(rrr.eigenvalues_), sorted_eigs(pcr.eigenvalues_), atol=1e-7
    )


def test_kernel_rrr_with_a_linear_kernel_is_edmd_rrr_on_the_state():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(4, 4))
    A *= 0.9 / max(abs(np.linalg.eigvals(A)))
    X = np.zeros((3, 30, 4))
    X[:, 0] = rng.normal(size=(3, 4))
    for k in range(29):
        X[:, k + 1] = X[:, k] @ A.T + 0.05 * rng.normal(size=(3, 4))
    for rank in (2, 3):
        for reg in (0.0, 1e-2):
            lin = KernelEDMD(
                kernel="polynomial",
                gamma=1.0,
                degree=1,
                coef0=0.0,
                rank=rank,
                regularization=reg,
                estimator="rrr",
            ).fit(X)
            edmd = EDMD(dictionary=Identity(), rank=rank, regularization=reg, estimator="rrr").fit(
                X
            )
            np.testing.assert_allclose(
                sorted_eigs(lin.eigenvalues_), sorted_eigs(edmd.eigenvalues_), atol=1e-8
            )
            np.testing.assert_allclose(lin.score(X), edmd.score(X), atol=1e-8)


def test_rrr_keeps_the_predictive_directions_that_pcr_drops():
    # Two predictable coordinates (variance ~4.5) and three white-noise ones (variance 9):
    # rank-2 PCR keeps the largest variance, the noise; rank-2 RRR the dynamics.
    rng = np.random.default_rng(1)
    T = 400
    slow = np.zeros((T, 2))
    slow[0] = [0.1, 0.0]
    rot = 0.99 * np.array([[np.cos(0.1), -np.sin(0.1)], [np.sin(0.1), np.cos(0.1)]])
    for k in range(T - 1):
        slow[k + 1] = rot @ slow[k] + 0.3 * rng.normal(size=2)
    X = np.hstack([slow, 3.0 * rng.normal(size=(T, 3))])
    pcr = EDMD(rank=2).fit(X)
    rrr = EDMD(rank=2, estimator="rrr").fit(X)
    true = np.linalg.eigvals(rot)
    err = [max(np.min(np.abs(m.eigenvalues_ - lam)) for lam in true) for m in (pcr, rrr)]
    assert err[1] < 0.03 < err[0]
    assert rrr.score(X) > pcr.score(X) + 1.0


def test_rrr_rank_and_spectrum_bookkeeping(duffing):
    model = EDMD(dictionary=Polynomial(4), rank=5, estimator="rrr").fit(duffing)
    assert model.rank_ == 5 and model.eigenvalues_.shape == (5,)
    assert np.linalg.matrix_rank(model.koopman_matrix_, tol=1e-8) == 5
    # Eigenpairs of the fitted matrix: K xi = lambda xi with phi = psi @ xi.
    pts = duffing[:2].reshape(-1, 2)  # more points than the 15 monomials
    psi = model.dictionary_.transform(pts)
    phi = model.eigenfunctions(pts)
    xi = np.linalg.lstsq(psi, phi, rcond=None)[0]
    np.testing.assert_allclose(model.koopman_matrix_ @ xi, xi * model.eigenvalues_, atol=1e-8)
    kernel = KernelEDMD(gamma=0.5, rank=5, estimator="rrr", regularization=1e-6).fit(duffing)
    assert kernel.rank_ == 5 and kernel.eigenfunctions(pts).shape == (62, 5)
    assert np.all(np.abs(kernel.eigenvalues_) < 1.05)


def test_rrr_torch_round_trip(duffing):
    Xt = torch.from_numpy(duffing)
    for model in (
        EDMD(dictionary=RandomFourier(20, gamma=0.5), rank=4, estimator="rrr").fit(Xt),
        KernelEDMD(gamma=0.5, rank=4, estimator="rrr", regularization=1e-6).fit(Xt),
    ):
        assert isinstance(model.eigenvalues_, torch.Tensor)
        assert isinstance(model.predict(Xt[0, 0], 3), torch.Tensor)
        assert 0 < model.score(Xt) <= 4 + 1e-9


def test_estimator_and_regularization_errors(duffing):
    with pytest.raises(ValueError, match="estimator must be one of"):
        EDMD(estimator="cca").fit(duffing)
    with pytest.raises(ValueError, match="estimator must be one of"):
        KernelEDMD(estimator="ridge").fit(duffing)
    with pytest.raises(ValueError, match="regularization must be a number >= 0"):
        KernelEDMD(regularization=-1e-3).fit(duffing)
    with pytest.raises(ValueError, match="rank=9 is larger than the data allows"):
        EDMD(dictionary=Polynomial(2), rank=9, estimator="rrr").fit(duffing)
