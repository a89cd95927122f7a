"""The dictionary protocol: the base class of koopkit's dictionaries, and any scikit-learn
transformer used as one.

A dictionary maps states ``X`` of shape ``(m, n)`` to features ``psi(X)`` of shape ``(m, p)``
with ``fit`` / ``transform`` (scikit-learn's transformer protocol), and may name a matrix
``state_matrix_`` ``B`` with ``psi(X) @ B == X``. The public names are re-exported by
:mod:`koopkit.dictionaries`.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import TransformerMixin, clone

from koopkit._backend import is_complex, ops_for
from koopkit._base import BaseEstimator, NotFittedError, _check_block, refuse_sparse


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
        _check_block(ops, X, "X", (2,))
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

    def jacobian(self, X):
        """Derivatives ``d psi_k / d x_i`` at the rows of ``X``.

        Parameters
        ----------
        X : array of shape (m, n)

        Returns
        -------
        array of shape (m, p, n)
            Entry ``[s, k, i]`` is ``d psi_k / d x_i`` at ``X[s]``; numpy or torch as ``X``.

        Raises
        ------
        ValueError
            For a dictionary without analytic derivatives (scikit-learn transformers, delay
            embeddings); :class:`koopkit.GeneratorEDMD` needs them.
        """
        ops, X = self._check_input(X)
        return self._jacobian(ops, X)

    def hessian(self, X):
        """Second derivatives ``d^2 psi_k / d x_i d x_j`` at the rows of ``X``.

        Parameters
        ----------
        X : array of shape (m, n)

        Returns
        -------
        array of shape (m, p, n, n)
            Entry ``[s, k, i, j]`` is ``d^2 psi_k / d x_i d x_j`` at ``X[s]`` (symmetric in
            ``i, j``). Memory grows as ``m p n^2``: evaluate large sets in chunks of rows.

        Raises
        ------
        ValueError
            For a dictionary without analytic derivatives.
        """
        ops, X = self._check_input(X)
        return self._hessian(ops, X)

    def _no_derivatives(self):
        return ValueError(
            f"the {type(self).__name__} dictionary has no analytic derivatives; the Koopman "
            "generator (GeneratorEDMD) needs them: use Identity, Polynomial, RBF, "
            "RandomFourier or a Concat of those"
        )

    def _jacobian(self, ops, X):
        raise self._no_derivatives()

    def _hessian(self, ops, X):
        raise self._no_derivatives()


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
