"""Dictionaries of observables ``psi: R^n -> R^p`` for EDMD.

Every dictionary follows the scikit-learn transformer protocol: ``fit(X)`` learns what the
data decide (input dimension, RBF centers, random frequencies), ``transform(X)`` maps states of
shape ``(m, n)`` to features of shape ``(m, p)``. Samples are rows; numpy in -> numpy out,
torch in -> torch out.

``state_matrix_`` (shape ``(p, n)``, or ``None``) is a matrix ``B`` with
``transform(X) @ B == X`` when the dictionary contains the state itself; EDMD uses it to map
eigenfunctions back to the state (Williams, Kevrekidis & Rowley 2015, Sec. 2.3).

``Identity``, ``Polynomial``, ``RBF``, ``RandomFourier`` and ``Concat`` of them have analytic
derivatives, ``jacobian(X)`` of shape ``(m, p, n)`` and ``hessian(X)`` of shape
``(m, p, n, n)``: the Koopman generator (:class:`koopkit.GeneratorEDMD`) needs them.

Any scikit-learn transformer can serve as a dictionary through :class:`SklearnTransformer`
(EDMD wraps one automatically). ``Identity`` and ``Polynomial`` (and a ``Concat`` of them)
accept complex states; the others refuse them with a ``ValueError``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from sklearn.base import clone

from koopkit._backend import ops_for
from koopkit._base import NotFittedError
from koopkit._dictionary import Dictionary, SklearnTransformer, as_dictionary

__all__ = [
    "Dictionary",
    "Identity",
    "Polynomial",
    "RBF",
    "RandomFourier",
    "Concat",
    "TimeDelay",
    "SklearnTransformer",
    "as_dictionary",
]


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

    def _jacobian(self, ops, X):
        m, n = X.shape
        return ops.concat([ops.eye(n)[None]] * m) if m else ops.zeros((0, n, n))

    def _hessian(self, ops, X):
        m, n = X.shape
        return ops.zeros((m, n, n, n))

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

    def _exponents(self) -> np.ndarray:
        """Exponent matrix (p, n): monomial ``k`` is ``prod_i x_i^E[k, i]``."""
        n = self.n_features_in_
        return np.array([np.bincount(combo, minlength=n) for combo in self.powers_], float)

    @staticmethod
    def _monomials(ops, X, E):
        """``prod_i x_i^E[..., i]`` for an integer exponent array ``E`` (..., n) >= 0:
        shape (m, ...). A table of the powers ``x_i^e`` is gathered and multiplied, which is
        many times faster than a floating-point power per entry."""
        E = np.asarray(E).astype(np.int64)
        n = X.shape[1]
        powers = [X * 0 + 1]
        for _ in range(int(E.max()) if E.size else 0):
            powers.append(powers[-1] * X)
        table = ops.concat([q[:, :, None] for q in powers], axis=2)  # (m, n, degree + 1)
        columns = np.broadcast_to(np.arange(n), E.shape)
        return table[:, ops.from_numpy(columns), ops.from_numpy(E)].prod(-1)

    def _jacobian(self, ops, X):
        # d/dx_i x^e = e_i x^(e - delta_i), Klus et al. 2020 (gEDMD) need it for every psi_k
        E = self._exponents()
        n = E.shape[1]
        shifted = np.clip(E[:, None, :] - np.eye(n)[None], 0, None)  # (p, n, n): e - delta_i
        return ops.asarray(E) * self._monomials(ops, X, shifted)

    def _hessian(self, ops, X):
        E = self._exponents()
        n = E.shape[1]
        eye = np.eye(n)
        # d^2/dx_i dx_j x^e = e_i (e_j - delta_ij) x^(e - delta_i - delta_j)
        coeff = E[:, :, None] * (E[:, None, :] - eye[None])
        shifted = np.clip(
            E[:, None, None, :] - eye[None, :, None, :] - eye[None, None, :, :], 0, None
        )
        return ops.asarray(coeff) * self._monomials(ops, X, shifted)

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

    def _jacobian(self, ops, X):
        # grad exp(-g |x - c|^2) = -2 g (x - c) psi;  diff: (m, p, n)
        diff = X[:, None, :] - ops.asarray(self.centers_)[None]
        return -2 * self.gamma * diff * ops.exp(-self.gamma * (diff**2).sum(-1))[..., None]

    def _hessian(self, ops, X):
        # Hess exp(-g |x - c|^2) = psi (4 g^2 (x - c)(x - c)^T - 2 g I)
        diff = X[:, None, :] - ops.asarray(self.centers_)[None]
        psi = ops.exp(-self.gamma * (diff**2).sum(-1))
        outer = 4 * self.gamma**2 * diff[..., :, None] * diff[..., None, :]
        return psi[..., None, None] * (outer - 2 * self.gamma * ops.eye(X.shape[1]))

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

    def _jacobian(self, ops, X):
        # d/dx_i s cos(x.w_k + b_k) = -s sin(x.w_k + b_k) w_ik  (sin a = cos(a - pi / 2))
        W = ops.asarray(self.weights_)  # (n, p)
        arg = X @ W + ops.asarray(self.offsets_)
        sine = ops.cos(arg - np.pi / 2)
        return -np.sqrt(2.0 / self.n_features) * sine[..., None] * W.T[None]

    def _hessian(self, ops, X):
        W = ops.asarray(self.weights_)
        arg = X @ W + ops.asarray(self.offsets_)
        outer = W.T[:, :, None] * W.T[:, None, :]  # (p, n, n)
        return -np.sqrt(2.0 / self.n_features) * ops.cos(arg)[..., None, None] * outer[None]

    def _names(self, names):
        return [f"rff{j}" for j in range(self.n_output_features_)]


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

    def _jacobian(self, ops, X):
        return ops.concat([ops.asarray(d.jacobian(X)) for d in self.dictionaries_], axis=1)

    def _hessian(self, ops, X):
        return ops.concat([ops.asarray(d.hessian(X)) for d in self.dictionaries_], axis=1)

    def _names(self, names):
        return [name for d in self.dictionaries_ for name in d._names(names)]

    def get_params(self, deep: bool = True) -> dict:
        """``{"dictionaries": [...]}`` (the parts are not flattened into nested names)."""
        return {"dictionaries": self.dictionaries}


class TimeDelay(Dictionary):
    """Delay embedding: row ``k`` of a trajectory becomes ``[x_k, x_{k+1}, ..., x_{k+d-1}]``.

    Unlike the other dictionaries, which map each state on its own, this one maps
    trajectories to trajectories: a trajectory of ``T`` snapshots gives ``T - delays + 1``
    delay vectors of ``delays * n`` features (oldest block first, newest last), and windows
    never cross from one trajectory into the next. Use it before an estimator (as
    :class:`koopkit.HankelDMD` does, or ``EDMD().fit(TimeDelay(5).fit_transform(X))``), not as
    the ``dictionary`` of EDMD, which lifts snapshot pairs one state at a time.

    Parameters
    ----------
    delays : int, default 2
        Number of consecutive snapshots per delay vector, ``d >= 1`` (``1`` is the identity).

    Attributes
    ----------
    n_output_features_ : int
        ``delays * n_features_in_``.
    state_matrix_ : ndarray of shape (delays * n, n)
        Selects the newest block: ``transform(X) @ state_matrix_ == X[delays - 1:]``.
    """

    def __init__(self, delays: int = 2):
        self.delays = delays

    def _check_delays(self) -> int:
        d = self.delays
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
            raise ValueError(f"delays must be an integer >= 1, got {d!r}")
        return int(d)

    def _trajectories(self, X):
        """``(list of 2-D blocks, layout)`` for the layouts (T, n), (n_traj, T, n) and lists."""
        if isinstance(X, (list, tuple)):
            if not X:
                raise ValueError("X is an empty list; expected trajectories of shape (T_i, n)")
            ops = ops_for(X[0])
            blocks = [ops.asarray(x) for x in X]
            layout = "list"
        else:
            ops = ops_for(X)
            X = ops.asarray(X)
            if X.ndim not in (2, 3):
                raise ValueError(
                    f"X must be a trajectory (T, n), a batch (n_traj, T, n) or a list of "
                    f"(T_i, n) arrays, got shape {tuple(X.shape)}"
                )
            blocks = [X] if X.ndim == 2 else list(X)
            layout = "single" if X.ndim == 2 else "batch"
        for i, b in enumerate(blocks):
            if b.ndim != 2:
                raise ValueError(f"trajectory {i} must be 2-D (T_i, n), got {tuple(b.shape)}")
            if not ops.all_finite(b):
                raise ValueError(f"trajectory {i} contains NaN or Inf; expected finite values")
        d = self._check_delays()
        for i, b in enumerate(blocks):
            if b.shape[0] < d:
                raise ValueError(
                    f"delays={d} is larger than trajectory {i} ({b.shape[0]} snapshots); "
                    f"every trajectory needs at least {d} snapshots"
                )
        return ops, blocks, layout

    def fit(self, X, y=None):
        """Record the number of features of trajectories ``X`` (any trajectory layout)."""
        _, blocks, _ = self._trajectories(X)
        if len({b.shape[1] for b in blocks}) != 1:
            raise ValueError("all trajectories must have the same number of features n")
        self.n_features_in_ = int(blocks[0].shape[1])
        return self

    @property
    def n_output_features_(self) -> int:
        return self._check_delays() * self.n_features_in_

    @property
    def state_matrix_(self) -> np.ndarray:
        n = self.n_features_in_
        B = np.zeros((self.n_output_features_, n))
        B[-n:] = np.eye(n)
        return B

    def transform(self, X):
        """Delay vectors of every trajectory, in the layout of ``X``.

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays of shape (T_i, n)

        Returns
        -------
        array of shape (T - d + 1, d n), (n_traj, T - d + 1, d n), or list of (T_i - d + 1, d n)
        """
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError("this TimeDelay is not fitted; call fit(X)")
        ops, blocks, layout = self._trajectories(X)
        d = self._check_delays()
        out = []
        for b in blocks:
            if b.shape[1] != self.n_features_in_:
                raise ValueError(
                    f"X must have {self.n_features_in_} features (columns), got {b.shape[1]}"
                )
            T = b.shape[0]
            out.append(ops.concat([b[j : T - d + 1 + j] for j in range(d)], axis=1))
        if layout == "list":
            return out
        if layout == "single":
            return out[0]
        return ops.concat([o[None] for o in out], axis=0)

    def _names(self, names):
        d = self._check_delays()
        return [
            f"{name}(t-{d - 1 - j})" if j < d - 1 else f"{name}(t)"
            for j in range(d)
            for name in names
        ]
