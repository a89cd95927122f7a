"""koopkit_diffusion.evaluation.metrics: 2-D distances, Fréchet distance, stats, PR."""

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit_diffusion.evaluation.metrics import (
    FeatureStats,
    SlicedReference,
    frechet_distance,
    load_stats,
    marginal_w1,
    save_stats,
    sliced_wasserstein,
)
from koopkit_diffusion.evaluation.precision_recall import precision_recall


def _random_gaussian(rng: np.random.Generator, d: int) -> tuple[np.ndarray, np.ndarray]:
    a = rng.standard_normal((d, d))
    return rng.standard_normal(d), a @ a.T + 0.1 * np.eye(d)


def _scipy_frechet(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(
        np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real)
    )


@given(d=st.integers(1, 12), seed=st.integers(0, 2**31 - 1))
def test_frechet_distance_matches_scipy_sqrtm(d, seed):
    rng = np.random.default_rng(seed)
    (mu1, s1), (mu2, s2) = _random_gaussian(rng, d), _random_gaussian(rng, d)
    ours, ref = frechet_distance(mu1, s1, mu2, s2), _scipy_frechet(mu1, s1, mu2, s2)
    assert ours == pytest.approx(ref, rel=1e-6, abs=1e-9 * (np.trace(s1) + np.trace(s2)))


@given(d=st.integers(1, 12), seed=st.integers(0, 2**31 - 1))
def test_frechet_distance_is_zero_for_identical_stats_and_symmetric(d, seed):
    rng = np.random.default_rng(seed)
    (mu1, s1), (mu2, s2) = _random_gaussian(rng, d), _random_gaussian(rng, d)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8 * np.trace(s1))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
        frechet_distance(mu2, s2, mu1, s1), rel=1e-8
    )


def test_frechet_distance_of_rank_deficient_covariances_is_real_and_nonnegative():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 64))  # 5 samples in 64 dimensions: covariance of rank 4
    s = np.cov(x, rowvar=False)
    value = frechet_distance(x.mean(0), s, x.mean(0), s)
    assert isinstance(value, float) and 0.0 <= value < 1e-6
    # Translating the mean by c adds exactly ‖c‖².
    c = np.full(64, 0.5)
    assert frechet_distance(x.mean(0) + c, s, x.mean(0), s) == pytest.approx(16.0, rel=1e-6)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="sigma of shape"):
        frechet_distance(np.zeros(3), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="dimension"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


@given(
    n=st.integers(2, 60),
    d=st.integers(1, 6),
    cuts=st.lists(st.floats(0, 1), max_size=5),
    seed=st.integers(0, 2**31 - 1),
)
def test_streaming_stats_equal_full_batch_stats_for_any_split(n, d, cuts, seed):
    x = np.random.default_rng(seed).standard_normal((n, d)) * 3.0 + 10.0
    bounds = sorted({0, n, *(int(c * n) for c in cuts)})
    stats = FeatureStats()
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi > lo:
            stats.update(torch.from_numpy(x[lo:hi]) if lo % 2 else x[lo:hi])
    assert stats.count == n
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.covariance, np.cov(x, rowvar=False).reshape(d, d), atol=1e-10)


def test_merged_stats_equal_stats_of_the_union():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((40, 4)), rng.standard_normal((25, 4)) + 2.0
    merged = FeatureStats().update(a).merge(FeatureStats().update(b))
    np.testing.assert_allclose(merged.covariance, np.cov(np.concatenate([a, b]), rowvar=False))
    with pytest.raises(ValueError, match="expected 4 features"):
        merged.update(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="empty"):
        _ = FeatureStats().mean


def test_stats_file_round_trip_and_errors(tmp_path):
    rng = np.random.default_rng(2)
    mu, sigma = _random_gaussian(rng, 5)
    path = save_stats(tmp_path / "ref.npz", mu, sigma, count=7)
    loaded_mu, loaded_sigma = load_stats(path)
    np.testing.assert_array_equal(loaded_mu, mu)
    np.testing.assert_array_equal(loaded_sigma, sigma)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.npz"]  # no temporary left over
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        load_stats(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", mean=mu)
    with pytest.raises(ValueError, match="'mu' and 'sigma'"):
        load_stats(tmp_path / "bad.npz")


def test_sliced_and_marginal_w1_are_zero_on_identical_sets_and_symmetric():
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((500, 2)), rng.standard_normal((400, 2)) * 2
    assert sliced_wasserstein(x, x) == 0.0 and marginal_w1(x, x) == 0.0
    assert sliced_wasserstein(x, y) == pytest.approx(sliced_wasserstein(y, x), rel=1e-12)
    assert marginal_w1(x, y) == pytest.approx(marginal_w1(y, x), rel=1e-12)
    assert sliced_wasserstein(x, y) > 0.1


@given(
    n_x=st.integers(1, 60), n_y=st.integers(1, 60), d=st.integers(1, 3), seed=st.integers(0, 999)
)
def test_sliced_reference_gives_the_direct_distance(n_x, n_y, d, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n_x, d)), 2 * rng.standard_normal((n_y, d)) + 1
    ref = SlicedReference(y, n_directions=64, seed=seed)
    assert sliced_wasserstein(x, ref, 64, seed) == sliced_wasserstein(x, y, 64, seed)
    # the 1-D law behind it: a translation by c along every direction u moves each projection
    # by c·u, so SW1(y, y + c) is the mean of |c·u| over the directions
    c = rng.standard_normal(d)
    u = np.random.default_rng(seed).standard_normal((d, 64))
    u /= np.linalg.norm(u, axis=0)
    assert sliced_wasserstein(y + c, ref, 64, seed) == pytest.approx(np.abs(c @ u).mean())


def test_sliced_reference_refuses_other_directions_or_features():
    ref = SlicedReference(np.zeros((10, 2)), n_directions=16, seed=1)
    assert ref.projections.shape == (16, 10)
    with pytest.raises(ValueError, match="n_directions=16, seed=1; this call asks"):
        sliced_wasserstein(np.zeros((5, 2)), ref)
    with pytest.raises(ValueError, match="x has 3 features and the reference 2"):
        sliced_wasserstein(np.zeros((5, 3)), ref, 16, 1)


@given(c=st.floats(-5, 5), seed=st.integers(0, 1000))
def test_marginal_w1_of_a_translation_by_c_is_abs_c(c, seed):
    x = np.random.default_rng(seed).standard_normal((300, 2))
    assert marginal_w1(x, x + c) == pytest.approx(abs(c), abs=1e-9)


def test_precision_recall_is_one_for_identical_sets_and_zero_for_disjoint():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 8))
    assert precision_recall(x, x) == {"precision": 1.0, "recall": 1.0}
    far = precision_recall(x, x + 100.0)
    assert far == {"precision": 0.0, "recall": 0.0}


def test_precision_recall_separates_quality_from_coverage():
    rng = np.random.default_rng(5)
    real = rng.standard_normal((800, 2))
    collapsed = 0.05 * rng.standard_normal((800, 2))  # good quality, poor coverage
    pr = precision_recall(real, collapsed)
    assert pr["precision"] > 0.95 and pr["recall"] < 0.3
    with pytest.raises(ValueError, match="more than k=3"):
        precision_recall(real[:3], collapsed)
