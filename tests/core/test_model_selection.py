"""VAMP-2 score and cross-validation over trajectories."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from koopkit import DMD, EDMD, HankelDMD, KernelEDMD
from koopkit.dictionaries import Dictionary, Polynomial
from koopkit.model_selection import TrajectoryKFold, cross_val_score, vamp2_score
from koopkit.systems import Duffing, LinearSystem

DT = 0.1


class Mixed(Dictionary):
    """``psi(x) @ M``: an invertible linear recombination of another dictionary's features."""

    def __init__(self, base, M):
        self.base = base
        self.M = M

    def _fit(self, X):
        self.base.fit(X)

    @property
    def n_output_features_(self):
        return self.M.shape[1]

    state_matrix_ = None

    def transform(self, X):
        return self.base.transform(X) @ self.M


@given(seed=st.integers(0, 10_000), r=st.integers(1, 4), k=st.integers(1, 4))
def test_vamp2_is_invariant_to_invertible_recombinations_and_bounded(seed, r, k):
    rng = np.random.default_rng(seed)
    F, G = rng.normal(size=(50, r)), rng.normal(size=(50, k))
    G[:, 0] += 3 * F[:, 0]
    score = vamp2_score(F, G)
    assert 0 <= score <= min(r, k) + 1e-12
    A = rng.normal(size=(r, r)) + 3 * np.eye(r)
    B = rng.normal(size=(k, k)) + 3 * np.eye(k)
    assert vamp2_score(F @ A, G @ B) == pytest.approx(score, rel=1e-9, abs=1e-12)
    assert vamp2_score(F, F) == pytest.approx(r)


@given(seed=st.integers(0, 10_000))
def test_edmd_score_is_invariant_to_an_invertible_change_of_dictionary(seed):
    X = Duffing().trajectories(4, 30, DT, seed=seed)
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(10, 10)) + 4 * np.eye(10)
    plain = EDMD(dictionary=Polynomial(3)).fit(X[:3])
    mixed = EDMD(dictionary=Mixed(Polynomial(3), M)).fit(X[:3])
    assert mixed.score(X[3:]) == pytest.approx(plain.score(X[3:]), rel=1e-7)
    gaps = np.abs(mixed.eigenvalues_[:, None] - plain.eigenvalues_[None, :]).min(axis=1)
    assert gaps.max() < 1e-7


def test_dmd_score_is_the_rank_for_an_exactly_linear_system_and_small_for_noise():
    A = np.array([[-0.1, 1.0, 0.0], [-1.0, -0.1, 0.0], [0.0, 0.0, -0.5]])
    X = LinearSystem(A).trajectories(4, 30, DT, seed=0)
    assert DMD(rank=3).fit(X[:2]).score(X[2:]) == pytest.approx(3.0, abs=1e-9)
    noise = np.random.default_rng(0).normal(size=(4, 500, 3))
    assert DMD(rank=3).fit(noise[:2]).score(noise[2:]) < 0.1


@given(seed=st.integers(0, 10_000))
def test_score_of_nested_ranks_never_decreases(seed):
    X = np.random.default_rng(seed).normal(size=(3, 40, 6)).cumsum(axis=1)
    scores = [DMD(rank=r).fit(X[:2]).score(X[2:]) for r in range(1, 7)]
    assert all(b >= a - 1e-9 for a, b in zip(scores, scores[1:], strict=False))
    assert all(0 <= s <= r + 1e-9 for r, s in zip(range(1, 7), scores, strict=True))


def test_kernel_and_hankel_scores():
    X = Duffing().trajectories(6, 30, DT, seed=1)
    for estimator in ("pcr", "rrr"):
        model = KernelEDMD(gamma=0.5, rank=6, estimator=estimator, regularization=1e-6)
        score = model.fit(X[:4]).score(X[4:])
        assert 5.0 < score <= 6 + 1e-9  # a deterministic system: nearly all predictable
    t = 0.05 * np.arange(300)
    y = np.exp(-0.1 * t) * np.cos(2 * t) + np.exp(-0.05 * t) * np.cos(5 * t + 1)
    assert HankelDMD(delays=10, rank=4).fit(y[:200]).score(y[200:]) == pytest.approx(4, abs=1e-6)
    forced = HankelDMD(delays=10, rank=4, forcing=1).fit(y[:200])
    assert forced.score(y[200:]) == pytest.approx(3, abs=1e-6)


def test_kernel_score_cache_follows_the_fit():
    # score caches the output factor's ridge solve; a refit must not reuse the old one
    X = Duffing().trajectories(6, 30, DT, seed=1)
    model = KernelEDMD(gamma=0.5, rank=4, regularization=1e-6)
    first = model.fit(X[:3]).score(X[4:])
    assert model.score(X[4:]) == first
    refit = model.fit(X[1:4]).score(X[4:])
    fresh = KernelEDMD(gamma=0.5, rank=4, regularization=1e-6).fit(X[1:4]).score(X[4:])
    assert refit == fresh and refit != first


def test_trajectory_kfold_holds_out_whole_trajectories():
    X = np.zeros((7, 20, 2))
    folds = list(TrajectoryKFold(3).split(X))
    assert len(folds) == 3
    held_out = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(np.sort(held_out), np.arange(7))
    for train, test in folds:
        assert not set(train) & set(test)
    ragged = [np.zeros((n, 2)) for n in (5, 9, 12, 7)]
    assert len(list(TrajectoryKFold(4, shuffle=True, random_state=0).split(ragged))) == 4
    with pytest.raises(ValueError, match="needs several trajectories"):
        list(TrajectoryKFold(3).split(np.zeros((20, 2))))
    with pytest.raises(ValueError, match="n_splits=8 is larger than the 7 trajectories"):
        list(TrajectoryKFold(8).split(X))


def predictable_among_noise(n_traj=6, seed=2):
    """Two predictable coordinates and three of white noise with twice their variance."""
    rng = np.random.default_rng(seed)
    trajs = []
    rot = 0.99 * np.array([[np.cos(0.1), -np.sin(0.1)], [np.sin(0.1), np.cos(0.1)]])
    for _ in range(n_traj):
        slow = np.zeros((150, 2))
        for k in range(149):
            slow[k + 1] = rot @ slow[k] + 0.3 * rng.normal(size=2)
        trajs.append(np.hstack([slow, 3.0 * rng.normal(size=(150, 3))]))
    return trajs


def test_cross_val_score_prefers_the_model_that_predicts():
    # Held-out VAMP-2 ranks reduced-rank regression above principal components at rank 2.
    trajs = predictable_among_noise()
    pcr = EDMD(rank=2)
    rrr = EDMD(rank=2, estimator="rrr")
    pcr_scores = cross_val_score(pcr, trajs, cv=3)
    rrr_scores = cross_val_score(rrr, trajs, cv=TrajectoryKFold(3))
    assert pcr_scores.shape == rrr_scores.shape == (3,)
    assert np.all(rrr_scores > pcr_scores + 0.5)
    assert not hasattr(pcr, "eigenvalues_")  # each fold fits a clone
    torch_scores = cross_val_score(DMD(rank=2), torch.from_numpy(np.stack(trajs)), cv=2)
    np.testing.assert_allclose(torch_scores, cross_val_score(DMD(rank=2), np.stack(trajs), cv=2))


def test_trajectory_folds_drive_scikit_learn_grid_search():
    import sklearn.base
    from sklearn.model_selection import GridSearchCV

    class SkEDMD(EDMD, sklearn.base.BaseEstimator):
        """EDMD with scikit-learn's estimator tags (what GridSearchCV asks of an estimator)."""

    X = np.stack(predictable_among_noise())
    grid = {"estimator": ["pcr", "rrr"], "regularization": [0.0, 1e-3]}
    search = GridSearchCV(SkEDMD(rank=2), grid, cv=TrajectoryKFold(3)).fit(X)
    assert search.best_params_["estimator"] == "rrr"
    assert search.best_score_ > 1.8


def test_score_input_errors():
    model = DMD(rank=2).fit(np.random.default_rng(0).normal(size=(30, 3)))
    with pytest.raises(ValueError, match="NaN"):
        model.score(np.full((10, 3), np.nan))
    with pytest.raises(ValueError, match="same number of rows"):
        vamp2_score(np.ones((5, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="not fitted"):
        EDMD().score(np.ones((5, 2)))


def test_new_linear_modules_import_neither_torch_nor_pydmd():
    import subprocess
    import sys

    modules = ["control", "delays", "optdmd", "rrr", "vamp", "model_selection"]
    code = (
        "import sys\n"
        + "".join(f"import koopkit.{m}\n" for m in modules)
        + "print('torch' in sys.modules, 'pydmd' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
