"""Dictionaries of observables ``psi: R^n -> R^p`` for EDMD.

Every dictionary follows the scikit-learn transformer protocol: ``fit(X)`` learns what the
data decide (input dimension, RBF centers, random frequencies), ``transform(X)`` maps states of
shape ``(m, n)`` to features of shape ``(m, p)``. Samples are rows; numpy in -> numpy out,
torch in -> torch out.

``state_matrix_`` (shape ``(p, n)``, or ``None``) is a matrix ``B`` with
``transform(X) @ B == X`` when the dictionary contains the state itself; EDMD uses it to map
eigenfunctions back to the state (Williams, Kevrekidis & Rowley 2015, Sec. 2.3).

Any scikit-learn transformer can serve as a dictionary through :class:`SklearnTransformer`
(EDMD wraps one automatically). ``Identity`` and ``Polynomial`` (and a ``Concat`` of them)
accept complex states; the others refuse them with a ``ValueError``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from sklearn.base import TransformerMixin, clone

from koopkit._backend import is_complex, ops_for
from koopkit._base import BaseEstimator, NotFittedError, check_block, refuse_sparse

__all__ = [
    "Dictionary",
    "Identity",
    "Polynomial",
    "RBF",
    "RandomFourier",
    "Concat",
    "SklearnTransformer",
    "as_dictionary",
]


class Dictionary(TransformerMixin, BaseEstimator):
    """Base class: ``fit`` / ``transform`` / ``fit_transform`` and ``feature_names``."""

    # Whether transform() is meaningful for complex states (holomorphic features only).
    _supports_complex = False

    def _check_input(self, X, fitting: bool = False):
        name = type(self).__name__
        refuse_sparse(X, f"the {name} dictionary")
        if is_complex(X) and not self._supports_complex:
            raise ValueError(
                f"Complex data not supported by the {name} dictionary; pass real arrays (for "
                "example the real and imaginary parts stacked as features)"
            )
        ops = ops_for(X)
        X = ops.asarray(X)
        check_block(ops, X, "X", (2,))
        if fitting and X.shape[0] == 0:
            raise ValueError(
                f"Found array with 0 sample(s) (shape={tuple(X.shape)}); {name} "
                "needs at least one state to fit"
            )
        if not fitting:
            if not hasattr(self, "n_features_in_"):
                raise NotFittedError(f"this {name} is not fitted; call fit(X)")
            if X.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[1]} features, but {name} is expecting "
                    f"{self.n_features_in_} features as input"
                )
        return ops, X

    def fit(self, X, y=None):
        """Learn the dictionary's data-dependent parts from states ``X`` of shape (m, n)."""
        _, X = self._check_input(X, fitting=True)
        self.n_features_in_ = int(X.shape[1])
        self._fit(X)
        return self

    def _fit(self, X) -> None:
        """Hook for data-dependent parameters (nothing to learn by default)."""

    def fit_transform(self, X, y=None):
        """``fit(X)`` then ``transform(X)``: features of shape (m, ``n_output_features_``)."""
        return self.fit(X).transform(X)

    def feature_names(self, input_features=None) -> list[str]:
        """Names of the ``n_output_features_`` features (inputs default to ``x0, x1, ...``)."""
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError(f"this {type(self).__name__} is not fitted; call fit(X)")
        if input_features is None:
            input_features = [f"x{i}" for i in range(self.n_features_in_)]
        names = [str(name) for name in input_features]
        if len(names) != self.n_features_in_:
            raise ValueError(f"input_features must have {self.n_features_in_} names")
        return self._names(names)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """:meth:`feature_names` under scikit-learn's name: object array of shape (p,)."""
        return np.asarray(self.feature_names(input_features), dtype=object)


class Identity(Dictionary):
    """The state itself: ``psi(x) = x`` (EDMD with it is DMD)."""

    _supports_complex = True

    @property
    def n_output_features_(self) -> int:
        return self.n_features_in_

    @property
    def state_matrix_(self) -> np.ndarray:
        return np.eye(self.n_features_in_)

    def transform(self, X):
        """Return ``X`` (as floats), shape (m, n)."""
        return self._check_input(X)[1]

    def _names(self, names):
        return names


class Polynomial(Dictionary):
    """All monomials of total degree at most ``degree``.

    Ordered by degree, then lexicographically (``1, x0, x1, x0^2, x0 x1, x1^2, ...``), as
    scikit-learn's ``PolynomialFeatures``.

    Parameters
    ----------
    degree : int, default 2
        Largest total degree (>= 1).
    include_bias : bool, default True
        Include the constant monomial ``1`` (its Koopman eigenvalue is exactly 1).
    """

    _supports_complex = True

    def __init__(self, degree: int = 2, include_bias: bool = True):
        self.degree = degree
        self.include_bias = include_bias

    def _fit(self, X):
        if isinstance(self.degree, bool) or int(self.degree) != self.degree or self.degree < 1:
            raise ValueError(f"degree must be an integer >= 1, got {self.degree!r}")
        n = X.shape[1]
        start = 0 if self.include_bias else 1
        self.powers_ = [
            combo
            for d in range(start, int(self.degree) + 1)
            for combo in itertools.combinations_with_replacement(range(n), d)
        ]

    @property
    def n_output_features_(self) -> int:
        return len(self.powers_)

    @property
    def state_matrix_(self) -> np.ndarray:
        B = np.zeros((len(self.powers_), self.n_features_in_))
        for row, combo in enumerate(self.powers_):
            if len(combo) == 1:
                B[row, combo[0]] = 1.0
        return B

    def transform(self, X):
        """Monomials of ``X``: shape (m, ``n_output_features_``)."""
        ops, X = self._check_input(X)
        cols = []
        for combo in self.powers_:
            col = X[:, 0] * 0 + 1
            for j in combo:
                col = col * X[:, j]
            cols.append(col[:, None])
        return ops.concat(cols, axis=1)

    def _names(self, names):
        out = []
        for combo in self.powers_:
            if not combo:
                out.append("1")
                continue
            parts = []
            for j in sorted(set(combo)):
                k = combo.count(j)
                parts.append(names[j] if k == 1 else f"{names[j]}^{k}")
            out.append(" ".join(parts))
        return out


def _sq_distances(X, C):
    """Squared Euclidean distances between the rows of X (m, n) and C (k, n): shape (m, k).

    Data whose squares overflow are scaled by a power of two first, so distances that exceed
    the floating-point range come out as ``inf`` (a kernel value of 0), never NaN.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        d2 = (X**2).sum(1)[:, None] - 2 * X @ C.T + (C**2).sum(1)[None, :]
        if ops_for(d2).all_finite(d2):
            return d2
        amax = max(float(ops_for(A).to_numpy(abs(A).max())) for A in (X, C))
        c = math.ldexp(1.0, -math.frexp(amax)[1])
        return (_sq_distances(X * c, C * c) / c) / c


class RBF(Dictionary):
    """Gaussian radial basis functions ``psi_j(x) = exp(-gamma |x - c_j|^2)``.

    Parameters
    ----------
    n_centers : int, default 100
        Number of centers, drawn without replacement from the rows given to ``fit``.
    centers : array of shape (n_centers, n), optional
        Explicit centers (then ``n_centers`` and ``seed`` are not used).
    gamma : float, default 1.0
        Inverse squared length scale.
    seed : int, default 0
        Seed for drawing the centers.
    """

    def __init__(self, n_centers: int = 100, centers=None, gamma: float = 1.0, seed: int = 0):
        self.n_centers = n_centers
        self.centers = centers
        self.gamma = gamma
        self.seed = seed

    def _fit(self, X):
        if not self.gamma > 0:
            raise ValueError(f"gamma must be positive, got {self.gamma!r}")
        X = ops_for(X).to_numpy(X)
        if self.centers is not None:
            centers = np.asarray(self.centers, dtype=float)
            if centers.ndim != 2 or centers.shape[1] != X.shape[1]:
                raise ValueError(
                    f"centers must have shape (n_centers, {X.shape[1]}), got {centers.shape}"
                )
        else:
            if int(self.n_centers) < 1 or self.n_centers > X.shape[0]:
                raise ValueError(
                    f"n_centers must be in [1, {X.shape[0]}]: centers are drawn from the "
                    f"{X.shape[0]} sample(s) given to fit; got {self.n_centers}"
                )
            idx = np.random.default_rng(self.seed).choice(X.shape[0], self.n_centers, False)
            centers = X[idx]
        self.centers_ = centers

    @property
    def n_output_features_(self) -> int:
        return self.centers_.shape[0]

    state_matrix_ = None

    def transform(self, X):
        """Gaussians of ``X``: shape (m, n_centers)."""
        ops, X = self._check_input(X)
        d2 = _sq_distances(X, ops.asarray(self.centers_))
        return ops.exp(-self.gamma * ops.clip_min(d2, 0.0))

    def _names(self, names):
        return [f"rbf{j}" for j in range(self.n_output_features_)]


class RandomFourier(Dictionary):
    """Random Fourier features ``sqrt(2/p) cos(x W + b)`` approximating the RBF kernel.

    ``W ~ N(0, 2 gamma I)``, ``b ~ U(0, 2 pi)``, so that the feature inner product approximates
    ``exp(-gamma |x - y|^2)`` (Rahimi & Recht 2007, Algorithm 1).

    Parameters
    ----------
    n_features : int, default 100
        Number of features ``p``.
    gamma : float, default 1.0
        Inverse squared length scale of the approximated kernel.
    seed : int, default 0
        Seed of the random frequencies and phases.
    """

    def __init__(self, n_features: int = 100, gamma: float = 1.0, seed: int = 0):
        self.n_features = n_features
        self.gamma = gamma
        self.seed = seed

    def _fit(self, X):
        if int(self.n_features) < 1:
            raise ValueError(f"n_features must be a positive integer, got {self.n_features}")
        if not self.gamma > 0:
            raise ValueError(f"gamma must be positive, got {self.gamma!r}")
        rng = np.random.default_rng(self.seed)
        self.weights_ = rng.normal(
            scale=np.sqrt(2 * self.gamma), size=(X.shape[1], self.n_features)
        )
        self.offsets_ = rng.uniform(0, 2 * np.pi, size=self.n_features)

    @property
    def n_output_features_(self) -> int:
        return int(self.n_features)

    state_matrix_ = None

    def transform(self, X):
        """Features of ``X``: shape (m, n_features)."""
        ops, X = self._check_input(X)
        arg = X @ ops.asarray(self.weights_) + ops.asarray(self.offsets_)
        scale = np.sqrt(2.0 / self.n_features)
        return scale * ops.cos(arg)

    def _names(self, names):
        return [f"rff{j}" for j in range(self.n_output_features_)]


def _dense(features) -> np.ndarray:
    """Features as a dense float ndarray (scikit-learn transformers may return sparse ones)."""
    if hasattr(features, "toarray"):
        features = features.toarray()
    return np.asarray(features, dtype=float)


class SklearnTransformer(Dictionary):
    """A scikit-learn transformer as a dictionary: ``psi(x) = transformer.transform(x)``.

    EDMD wraps any object with ``fit`` and ``transform`` (``PolynomialFeatures``,
    ``Nystroem``, ``SplineTransformer``, a ``Pipeline`` ...) in this class. The transformer sees
    numpy arrays; torch input goes through the CPU and the features come back on its device.

    ``state_matrix_`` selects the state coordinates when each of them appears as a feature
    (the degree-1 terms of ``PolynomialFeatures``, a passthrough in a ``FeatureUnion``),
    checked on the data given to ``fit``; otherwise it is ``None`` and EDMD maps
    eigenfunctions back to the state by least squares.

    Parameters
    ----------
    transformer : scikit-learn transformer
        Object with ``fit(X)`` and ``transform(X)`` mapping (m, n) to (m, p); a clone is fitted
        (``transformer_``).
    """

    def __init__(self, transformer):
        self.transformer = transformer

    def _fit(self, X):
        X = ops_for(X).to_numpy(X)
        self.transformer_ = clone(self.transformer).fit(X)
        features = _dense(self.transformer_.transform(X))
        if features.ndim != 2 or features.shape[0] != X.shape[0]:
            raise ValueError(
                f"{type(self.transformer).__name__}.transform must map (m, n) to (m, p); got "
                f"shape {features.shape} for input {X.shape}"
            )
        self.n_output_features_ = int(features.shape[1])
        self.state_matrix_ = _selection_matrix(features, X)

    def transform(self, X):
        """The transformer's features of ``X``: shape (m, ``n_output_features_``)."""
        ops, X = self._check_input(X)
        return ops.asarray(_dense(self.transformer_.transform(ops.to_numpy(X))))

    def _names(self, names):
        try:
            return [str(n) for n in self.transformer_.get_feature_names_out(names)]
        except (AttributeError, ValueError, TypeError):
            return [f"psi{j}" for j in range(self.n_output_features_)]


def _selection_matrix(features: np.ndarray, X: np.ndarray) -> np.ndarray | None:
    """``B`` (p, n) with ``features @ B == X`` picking one feature per state coordinate, or None."""
    B = np.zeros((features.shape[1], X.shape[1]))
    for j in range(X.shape[1]):
        tol = 1e-12 * max(1.0, float(np.abs(X[:, j]).max()))
        matches = np.flatnonzero(np.abs(features - X[:, j : j + 1]).max(axis=0) <= tol)
        if matches.size == 0:
            return None
        B[matches[0], j] = 1.0
    return B


def as_dictionary(dictionary) -> Dictionary:
    """A koopkit :class:`Dictionary` for ``dictionary``.

    Parameters
    ----------
    dictionary : Dictionary or scikit-learn transformer
        A koopkit dictionary is returned as is; any other object with ``fit`` and
        ``transform`` is wrapped in :class:`SklearnTransformer`.

    Returns
    -------
    Dictionary

    Raises
    ------
    ValueError
        For anything else (including a transformer class instead of an instance).
    """
    if isinstance(dictionary, Dictionary):
        return dictionary
    has_api = all(callable(getattr(dictionary, a, None)) for a in ("fit", "transform"))
    if has_api and not isinstance(dictionary, type):
        return SklearnTransformer(dictionary)
    raise ValueError(
        "dictionary must be a koopkit Dictionary or a scikit-learn transformer instance (an "
        f"object with fit and transform), got {dictionary!r}"
    )


class Concat(Dictionary):
    """Concatenation of several dictionaries' features, e.g. ``Concat([Identity(), RBF()])``.

    Parameters
    ----------
    dictionaries : list of Dictionary or scikit-learn transformers
        Parts; clones of them are fitted on the same data (``dictionaries_``) and their
        features are concatenated in this order.
    """

    def __init__(self, dictionaries):
        self.dictionaries = dictionaries

    @property
    def _supports_complex(self) -> bool:
        return all(as_dictionary(d)._supports_complex for d in self.dictionaries)

    def _fit(self, X):
        if not self.dictionaries:
            raise ValueError("Concat needs a non-empty list of dictionaries")
        self.dictionaries_ = [as_dictionary(clone(d)).fit(X) for d in self.dictionaries]

    @property
    def n_output_features_(self) -> int:
        return sum(d.n_output_features_ for d in self.dictionaries_)

    @property
    def state_matrix_(self):
        for i, d in enumerate(self.dictionaries_):
            if d.state_matrix_ is not None:
                sizes = [p.n_output_features_ for p in self.dictionaries_]
                B = np.zeros((sum(sizes), self.n_features_in_))
                start = sum(sizes[:i])
                B[start : start + sizes[i]] = d.state_matrix_
                return B
        return None

    def transform(self, X):
        """Concatenated features: shape (m, sum of the parts' feature counts)."""
        ops, X = self._check_input(X)
        return ops.concat([ops.asarray(d.transform(X)) for d in self.dictionaries_], axis=1)

    def _names(self, names):
        return [name for d in self.dictionaries_ for name in d._names(names)]

    def get_params(self, deep: bool = True) -> dict:
        """``{"dictionaries": [...]}`` (the parts are not flattened into nested names)."""
        return {"dictionaries": self.dictionaries}
