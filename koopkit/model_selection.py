"""Model selection for Koopman estimators: the VAMP-2 score and cross-validation over trajectories.

The VAMP-2 score (Wu & Noé 2020, J. Nonlinear Sci. 30, Eq. 29 and Sec. 3.3) of input functions
``f`` (r of them, of the current state) and output functions ``g`` (of the successor) on pairs
``(X, Y)`` is

``R_2 = ||C_ff^{-1/2} C_fg C_gg^{-1/2}||_F^2``,

the sum of the squared canonical correlations between ``f(X)`` and ``g(Y)``. It lies in
``[0, r]``, is invariant to invertible linear recombinations of ``f`` and of ``g``, and by the
variational principle of Wu & Noé is largest for the leading singular functions of the true
Koopman operator: higher is better, scikit-learn's convention for ``score``. A fitted estimator
is scored with *its own* singular functions, learned on the training pairs and evaluated on
held-out ones; the covariances are not centered, so a constant in the dictionary contributes
its ``1`` (Wu & Noé's "+1").

Compare models **of the same rank**: with nested feature spaces the score never decreases with
the rank, on training and test data alike. It separates dictionaries, kernels,
regularizations, delays and estimators ("pcr" against "rrr") at a given rank.

Cross-validation never splits a trajectory: :class:`TrajectoryKFold` holds out whole
trajectories, and :func:`cross_val_score` fits on the others and scores on those. Both work
with scikit-learn's tools (``GridSearchCV(estimator, grid, cv=TrajectoryKFold(5))``).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.model_selection import KFold

from koopkit._backend import is_torch
from koopkit.vamp import vamp2_score

__all__ = ["vamp2_score", "TrajectoryKFold", "cross_val_score"]


def _n_trajectories(X) -> int:
    if isinstance(X, (list, tuple)):
        return len(X)
    ndim = getattr(X, "ndim", None)
    if ndim != 3:
        raise ValueError(
            "cross-validation over trajectories needs several trajectories: an array "
            f"(n_traj, T, n) or a list of (T_i, n) arrays, got shape "
            f"{tuple(getattr(X, 'shape', ()))}; cut one long trajectory into pieces first, "
            "e.g. np.array_split(X, k)"
        )
    return int(X.shape[0])


class TrajectoryKFold(KFold):
    """K-fold over whole trajectories: a trajectory is either in the training or the test fold.

    scikit-learn's :class:`~sklearn.model_selection.KFold` over the first axis of
    ``(n_traj, T, n)`` arrays or lists of trajectories, refusing a single ``(T, n)``
    trajectory (whose rows ``KFold`` would split in time, pairs and all).

    Parameters
    ----------
    n_splits : int, default 5
        Number of folds (at most the number of trajectories).
    shuffle : bool, default False
        Shuffle the trajectories before splitting.
    random_state : int or None, default None
        Seed of the shuffle.
    """

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False, random_state=None):
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` arrays of trajectory indices.

        Parameters
        ----------
        X : array of shape (n_traj, T, n) or list of arrays (T_i, n)
            Trajectories.
        y, groups : ignored
        """
        n = _n_trajectories(X)
        if self.n_splits > n:
            raise ValueError(f"n_splits={self.n_splits} is larger than the {n} trajectories")
        yield from super().split(np.zeros((n, 1)))


def _subset(X, idx):
    if isinstance(X, (list, tuple)):
        return [X[int(i)] for i in idx]
    if is_torch(X):
        import torch

        return X[torch.as_tensor(idx, device=X.device)]
    return X[idx]


def cross_val_score(estimator, X, cv=5) -> np.ndarray:
    """Score ``estimator`` on held-out trajectories (fitted on the others, fold by fold).

    Parameters
    ----------
    estimator : estimator with ``fit(X)`` and ``score(X)``
        Cloned (``sklearn.base.clone``) for every fold, so it is left unfitted.
    X : array of shape (n_traj, T, n) or list of arrays (T_i, n)
        Trajectories; folds hold out whole trajectories.
    cv : int or splitter, default 5
        Number of folds of a :class:`TrajectoryKFold`, or any object with
        ``split(X)`` yielding index arrays over trajectories.

    Returns
    -------
    ndarray of shape (n_splits,)
        The test score of every fold (VAMP-2 for the koopkit estimators: higher is better).
    """
    from sklearn.base import clone

    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        cv = TrajectoryKFold(int(cv))
    _n_trajectories(X)
    scores = []
    for train, test in cv.split(X):
        model = clone(estimator).fit(_subset(X, train))
        scores.append(float(model.score(_subset(X, test))))
    return np.asarray(scores)
