"""Truncated SVD: rank rules, and all computation paths agree on the leading subspace."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit.linalg import (
    NumericalRankWarning,
    choose_svd_method,
    optimal_hard_threshold,
    svd_rank,
    truncated_svd,
)


def low_rank_plus_noise(m, n, r, noise=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    spectrum = np.linspace(10.0, 1.0, r)
    U = np.linalg.qr(rng.normal(size=(m, r)))[0]
    V = np.linalg.qr(rng.normal(size=(n, r)))[0]
    return (U * spectrum) @ V.T + noise * rng.normal(size=(m, n))


def subspace_distance(A, B):
    """Largest principal-angle sine between the column spans of A and B (orthonormal)."""
    return np.linalg.norm(A - B @ (B.T @ A), 2)


@pytest.mark.parametrize("shape", [(400, 60), (60, 400), (120, 100)])
@pytest.mark.parametrize("method", ["gram", "randomized", "auto"])
def test_all_svd_paths_agree_on_leading_subspace(shape, method):
    X = low_rank_plus_noise(*shape, r=8)
    U0, s0, Vh0 = truncated_svd(X, rank=8, method="svd")
    U, s, Vh = truncated_svd(X, rank=8, method=method)
    np.testing.assert_allclose(s, s0, rtol=1e-8)
    assert subspace_distance(U, U0) < 1e-7
    assert subspace_distance(Vh.T, Vh0.T) < 1e-7
    np.testing.assert_allclose(U.T @ U, np.eye(8), atol=1e-10)


def test_gram_path_full_rank_matches_svd():
    X = np.random.default_rng(1).normal(size=(300, 20))
    U0, s0, Vh0 = truncated_svd(X, rank=-1, method="svd")
    U, s, Vh = truncated_svd(X, rank=-1, method="gram")
    np.testing.assert_allclose(s, s0, rtol=1e-10)
    np.testing.assert_allclose((U * s) @ Vh, X, atol=1e-10)


def graded_matrix(m, spectrum, seed=0):
    """``U diag(spectrum) V^T`` with random orthonormal ``U`` (m, n) and ``V`` (n, n)."""
    rng = np.random.default_rng(seed)
    n = len(spectrum)
    U = np.linalg.qr(rng.normal(size=(m, n)))[0]
    V = np.linalg.qr(rng.normal(size=(n, n)))[0]
    return (U * spectrum) @ V.T


# Singular values down to 1e-10 of the largest (the Gram matrix of a 6000-row matrix resolves
# those above ~1e-6 only), and a rank-10 signal over a 1e-9 floor whose median is below it.
GRADED = np.logspace(0, -10, 20)
FLOOR = np.r_[np.logspace(0, -4, 5), np.logspace(-7.5, -8, 5), np.full(10, 1e-9)]


@pytest.mark.parametrize(
    ("spectrum", "rank"),
    [(GRADED, 16), (GRADED, -1), (GRADED, 1 - 1e-15), (FLOOR, None), (FLOOR, 0)],
)
def test_gram_path_keeps_the_svd_paths_rank_beyond_its_resolution(spectrum, rank):
    X = graded_matrix(6000, spectrum)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumericalRankWarning: the ranks are numerical ranks
        U0, s0, Vh0 = truncated_svd(X, rank, method="svd")
        for method in ["gram", "auto"]:
            U, s, Vh = truncated_svd(X, rank, method=method)
            assert len(s) == len(s0)
            np.testing.assert_allclose(s, s0, rtol=1e-6)
            np.testing.assert_allclose((U * s) @ Vh, (U0 * s0) @ Vh0, atol=1e-13)
    assert len(s0) == {16: 16, -1: 20, None: 10, 0: 10}.get(rank, 15)


def test_gram_path_warns_like_the_svd_path_above_the_numerical_rank():
    X = graded_matrix(6000, np.r_[np.ones(3), np.zeros(5)])
    for method in ["svd", "gram"]:
        with pytest.warns(NumericalRankWarning, match="rank=5 exceeds the numerical rank 3 "):
            assert len(truncated_svd(X, 5, method=method)[1]) == 3


def test_rank_rules_int_energy_threshold_full():
    X = low_rank_plus_noise(200, 50, r=5, noise=1e-4)
    s = np.linalg.svd(X, compute_uv=False)
    assert svd_rank(s, X.shape, 3) == 3
    assert svd_rank(s, X.shape, -1) == 50
    # the optimal hard threshold separates the rank-5 signal from white noise
    assert svd_rank(s, X.shape, None) == 5
    assert svd_rank(s, X.shape, 0) == 5
    energy = np.cumsum(s**2) / np.sum(s**2)
    r = svd_rank(s, X.shape, 0.9)
    assert energy[r - 1] >= 0.9 and (r == 1 or energy[r - 2] < 0.9)


def test_optimal_hard_threshold_square_matrix_constant():
    s = np.ones(10)
    # omega(1) = 0.56 - 0.95 + 1.82 + 1.43 = 2.86 (Gavish & Donoho 2014)
    assert optimal_hard_threshold(s, (10, 10)) == pytest.approx(2.86)


@given(st.floats(min_value=0.01, max_value=0.99))
def test_energy_rank_is_smallest_rank_reaching_fraction(fraction):
    s = np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])
    r = svd_rank(s, (10, 6), fraction)
    energy = np.cumsum(s**2) / np.sum(s**2)
    assert energy[r - 1] >= fraction - 1e-12
    assert r == 1 or energy[r - 2] < fraction


def test_auto_picks_randomized_gram_svd_by_shape_and_rank():
    assert choose_svd_method((500, 20000), 20) == "gram"  # short side < 20 (rank + oversample)
    assert choose_svd_method((20000, 500), -1) == "gram"
    assert choose_svd_method((20000, 500), None) == "gram"
    assert choose_svd_method((20000, 2000), 20) == "randomized"
    assert choose_svd_method((1000, 800), 5) == "randomized"
    assert choose_svd_method((1000, 800), None) == "svd"
    assert choose_svd_method((300, 200), 5) == "svd"
    assert choose_svd_method((500, 20000), 20, single_precision=True) == "randomized"
    assert choose_svd_method((500, 20000), None, single_precision=True) == "svd"


def test_torch_input_gives_torch_output_and_same_values():
    X = low_rank_plus_noise(120, 40, r=4)
    for method in ["svd", "gram", "randomized"]:
        U, s, Vh = truncated_svd(torch.from_numpy(X), rank=4, method=method)
        assert isinstance(s, torch.Tensor) and s.dtype == torch.float64
        np.testing.assert_allclose(s.numpy(), np.linalg.svd(X, compute_uv=False)[:4], rtol=1e-8)


def test_float32_input_computes_in_float32():
    X = low_rank_plus_noise(100, 30, r=3).astype(np.float32)
    U, s, Vh = truncated_svd(X, rank=3, method="svd")
    assert U.dtype == np.float32 and s.dtype == np.float32


def test_bad_inputs_raise_value_errors():
    X = np.ones((10, 4))
    with pytest.raises(ValueError, match="larger than the data"):
        truncated_svd(X, rank=5)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        truncated_svd(X, rank=1.5)
    with pytest.raises(ValueError, match="method must be one of"):
        truncated_svd(X, rank=2, method="qr")
    with pytest.raises(ValueError, match="positive integer rank"):
        truncated_svd(X, rank=0.9, method="randomized")
    with pytest.raises(ValueError, match="NaN or Inf"):
        truncated_svd(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        truncated_svd(np.ones(5))
    with pytest.raises(ValueError, match="rank must be"):
        truncated_svd(X, rank="full")


@pytest.mark.parametrize("spectrum", ["gap", "decay", "flat"])
def test_top_eigenpairs_by_subspace_iteration_match_dense_solver(spectrum):
    from koopkit._backend import NumpyOps
    from koopkit.linalg import _top_eigh

    rng = np.random.default_rng(0)
    k, r = 300, 12
    U = np.linalg.qr(rng.normal(size=(k, k)))[0]
    values = {
        "gap": np.r_[np.linspace(10, 5, r), 1e-6 * rng.uniform(size=k - r)],
        "decay": 0.7 ** np.arange(k),
        "flat": rng.uniform(1, 2, size=k),  # no gap: the dense solver answers
    }[spectrum]
    G = (U * values) @ U.T
    theta, V = _top_eigh(NumpyOps(), G, r)
    expected = np.sort(values)[::-1][:r]
    np.testing.assert_allclose(theta, expected, rtol=1e-12)
    np.testing.assert_allclose(G @ V, V * theta, atol=k * 1e-15 * expected[0])
    np.testing.assert_allclose(V.T @ V, np.eye(r), atol=1e-12)
