"""VAMPNets: learned features whose linear Koopman model scores best under VAMP.

Two networks ("lobes") map the states at time ``t`` and ``t + tau`` to features
``chi_0(x_t)`` and ``chi_1(x_{t+tau})`` of dimension ``k``; training maximises the VAMP-2 (or
VAMP-E) score of the pair (Mardt, Pasquali, Wu & Noé 2018, "VAMPnets for deep learning of
molecular kinetics", Nat. Commun. 9:5; the scores are defined in :mod:`koopkit.vamp`).

The differentiable scores are :func:`koopkit.vamp.vamp_score` (beside the core's
:func:`koopkit.vamp.vamp2_score`, which it equals for full-rank features with the constant
prepended: a test). :class:`VAMPNet` is the scikit-learn-style estimator around them, trained
with :func:`koopkit.training.fit` and turned into a Koopman model by :class:`koopkit.EDMD` on
its learned features (:meth:`VAMPNet.koopman_model`).
"""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np
import torch
from torch import nn

from koopkit._backend import is_torch
from koopkit._base import BaseEstimator, _check_block, refuse_sparse
from koopkit._dictionary import Dictionary
from koopkit.autoencoder import mlp
from koopkit.vamp import SCORE_METHODS, _covariances, _koopman, _vamp_e, vamp_score

__all__ = ["VAMPNet", "LobeFeatures"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


# --------------------------------------------------------------------------- pairs


def _lagged_pairs(X, Y, lagtime: int, owner: str):
    """``(x_t, x_{t+tau})`` pairs as two float64 numpy or torch arrays (m, n)."""
    if Y is not None:
        for A in (X, Y):
            refuse_sparse(A, owner)
        X0, Y0 = _as_array(X), _as_array(Y)
        for name, A in (("X", X0), ("Y", Y0)):
            _check_block(_ops(A), A, name, (2,))
        if tuple(X0.shape) != tuple(Y0.shape):
            raise ValueError(
                f"X and Y must have the same shape (m, n); got {tuple(X0.shape)} and "
                f"{tuple(Y0.shape)}"
            )
        return X0, Y0
    if isinstance(X, (list, tuple)):
        if not X:
            raise ValueError("X is an empty list; expected trajectories of shape (T_i, n)")
        blocks = [_as_array(x) for x in X]
    else:
        refuse_sparse(X, owner)
        A = _as_array(X)
        _check_block(_ops(A), A, "X", (2, 3))
        blocks = [A] if A.ndim == 2 else list(A)
    for i, b in enumerate(blocks):
        _check_block(_ops(b), b, f"trajectory {i}", (2,))
    if len({b.shape[1] for b in blocks}) != 1:
        raise ValueError("all trajectories must have the same number of features n")
    usable = [b for b in blocks if b.shape[0] > lagtime]
    if not usable:
        raise ValueError(
            f"every trajectory is too short for lagtime={lagtime}: a pair needs at least "
            f"{lagtime + 1} snapshots, got {max(b.shape[0] for b in blocks)} sample(s)"
        )
    cat = torch.cat if is_torch(usable[0]) else np.concatenate
    return cat([b[:-lagtime] for b in usable]), cat([b[lagtime:] for b in usable])


def _as_array(A):
    if is_torch(A):
        if A.is_complex():
            raise ValueError("Complex data not supported by VAMPNet; pass real arrays")
        return A.detach()
    A = np.asarray(A)
    if np.iscomplexobj(A):
        raise ValueError("Complex data not supported by VAMPNet; pass real arrays")
    return A.astype(np.float64, copy=False)


def _ops(A):
    from koopkit._backend import ops_for

    return ops_for(A)


# --------------------------------------------------------------------------- the estimator


class _Lobes(nn.Module):
    def __init__(self, lobe: nn.Module, lobe_lagged: nn.Module | None):
        super().__init__()
        self.lobe = lobe
        self.lobe_lagged = lobe_lagged  # None: the instantaneous lobe is shared

    def forward(self, x, lagged: bool = False):
        net = self.lobe_lagged if lagged and self.lobe_lagged is not None else self.lobe
        return net(x)


class VAMPNet(BaseEstimator):
    """VAMPNet: lobes trained to maximise the VAMP score of time-lagged pairs (Mardt et al. 2018).

    Parameters
    ----------
    lobe : torch.nn.Module, optional
        Network mapping states (batch, n) to features (batch, k). A deep copy is trained
        (``lobe_``); the argument keeps its weights. Default: an ELU network
        ``n -> hidden -> ... -> output_dim`` with a softmax output (fuzzy state memberships, as
        in Mardt et al. 2018), initialised from ``seed``.
    lobe_lagged : torch.nn.Module, optional
        Separate network for the states at ``t + tau`` (non-reversible dynamics); by default
        the lobe is shared.
    output_dim : int, default 2
        Features of the default lobe.
    hidden : int, default 64
        Width of the default lobe's hidden layers.
    depth : int, default 2
        Hidden layers of the default lobe.
    lagtime : int, default 1
        Lag ``tau`` in steps between the paired states (trajectory input).
    score_method : {"VAMP2", "VAMPE"}, default "VAMP2"
        Score maximised in training and returned by :meth:`score`.
    epsilon : float, default 1e-6
        Covariance eigenvalues below it are dropped (see :func:`koopkit.vamp.vamp_score`).
    learning_rate : float, default 5e-4
        Adam learning rate (constant).
    batch_size : int, default 512
        Pairs per step; the VAMP score is estimated on each mini-batch.
    n_epochs : int, default 20
        Passes over the training pairs; ``0`` evaluates the lobe as it is (no training).
    seed : int, default 0
        Seeds the default lobe's initialisation and the batch order.
    device : str, default "cpu"
        Where the lobes train.
    dtype : {"float32", "float64"}, default "float32"
        Precision of the lobes.
    progress : bool, default False
        Show a tqdm progress bar while training.

    Attributes
    ----------
    lobe_, lobe_lagged_ : torch.nn.Module
        The trained lobes (the same object when shared).
    singular_values_ : ndarray of shape (k,)
        Singular values of ``K`` on the training pairs (the constant's 1 not included).
    train_scores_ : list of float
        Mean mini-batch score of each epoch.
    validation_scores_ : list of float
        Full-batch score of the validation pairs after each epoch (with ``validation``).
    history_ : koopkit.training.FitHistory
        The training loop's record.
    n_features_in_ : int
        State dimension ``n``.

    Notes
    -----
    numpy in gives numpy out (float64), torch in gives torch out on the input's device. The
    Koopman model of the learned features is :meth:`koopman_model`, an :class:`koopkit.EDMD`
    on ``[1, chi_0(x)]`` (eigenvalues per ``lagtime`` steps, modes, prediction,
    :func:`koopkit.analysis.plot_summary`). deeptime users: ``VAMPNet(lobe, lobe_timelagged,
    learning_rate=...)`` with a data loader there is ``VAMPNet(lobe, lobe_lagged,
    learning_rate=...).fit(X)`` here, its ``transform`` is ``transform`` and ``fetch_model``
    is the fitted estimator itself.
    """

    def __init__(
        self,
        lobe: nn.Module | None = None,
        lobe_lagged: nn.Module | None = None,
        output_dim: int = 2,
        hidden: int = 64,
        depth: int = 2,
        lagtime: int = 1,
        score_method: str = "VAMP2",
        epsilon: float = 1e-6,
        learning_rate: float = 5e-4,
        batch_size: int = 512,
        n_epochs: int = 20,
        seed: int = 0,
        device: str = "cpu",
        dtype: str = "float32",
        progress: bool = False,
    ):
        self.lobe = lobe
        self.lobe_lagged = lobe_lagged
        self.output_dim = output_dim
        self.hidden = hidden
        self.depth = depth
        self.lagtime = lagtime
        self.score_method = score_method
        self.epsilon = epsilon
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.progress = progress

    def _check_params(self) -> None:
        if self.score_method not in SCORE_METHODS:
            raise ValueError(
                f"score_method must be one of {SCORE_METHODS}, got {self.score_method!r}"
            )
        if self.dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {self.dtype!r}")
        for name in ("lagtime", "batch_size", "output_dim", "hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        e = self.n_epochs
        if isinstance(e, bool) or not isinstance(e, numbers.Integral) or e < 0:
            raise ValueError(f"n_epochs must be a non-negative integer, got {e!r}")
        d = self.depth
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0:
            raise ValueError(f"depth must be a non-negative integer, got {d!r}")
        for name in ("epsilon", "learning_rate"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        for name in ("lobe", "lobe_lagged"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, nn.Module):
                raise ValueError(f"{name} must be a torch.nn.Module or None, got {value!r}")

    def _tensor(self, A):
        if isinstance(A, np.ndarray) and not A.flags.writeable:
            A = A.copy()  # torch refuses to share read-only memory
        return torch.as_tensor(A).to(device=self.device, dtype=_DTYPES[self.dtype])

    def fit(self, X, Y=None, *, validation=None) -> VAMPNet:
        """Train the lobes on time-lagged pairs.

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Trajectories, samples as rows: pairs ``(x_t, x_{t+lagtime})`` never cross
            trajectories. With ``Y``: the states at ``t``, shape (m, n).
        Y : array of shape (m, n), optional
            The states at ``t + tau`` of the rows of ``X``.
        validation : trajectories, or tuple (X_val, Y_val), optional
            Held-out data scored after every epoch (``validation_scores_``).

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For NaN/Inf, complex data, mismatched ``X`` and ``Y``, trajectories shorter than
            the lag, fewer than 2 pairs, a lobe whose output is not (batch, k), or a lobe
            without parameters with ``n_epochs > 0``.
        """
        from koopkit.training import fit as train

        self._check_params()
        X0, Y0 = _lagged_pairs(X, Y, int(self.lagtime), "VAMPNet")
        m, n = int(X0.shape[0]), int(X0.shape[1])
        if m < 2:
            raise ValueError(f"VAMPNet needs at least 2 time-lagged pairs, got {m} sample(s)")
        if validation is not None:
            val = validation if isinstance(validation, tuple) else (validation, None)
            V0, V1 = _lagged_pairs(val[0], val[1], int(self.lagtime), "VAMPNet")
            if V0.shape[1] != n:
                raise ValueError(f"validation data must have {n} features, got {V0.shape[1]}")
        if self.lobe is None:
            torch.manual_seed(int(self.seed))
            lobe = nn.Sequential(
                mlp(n, int(self.output_dim), int(self.hidden), int(self.depth), "elu"),
                nn.Softmax(dim=-1),
            )
        else:
            lobe = copy.deepcopy(self.lobe)
        lagged = None if self.lobe_lagged is None else copy.deepcopy(self.lobe_lagged)
        model = _Lobes(lobe, lagged).to(device=self.device, dtype=_DTYPES[self.dtype])
        pairs = torch.stack([self._tensor(X0), self._tensor(Y0)], dim=1)  # (m, 2, n)
        self._check_output(model, pairs[:2, 0])
        method, eps = self.score_method, float(self.epsilon)

        def loss(net, batch):
            return -vamp_score(net(batch[:, 0]), net(batch[:, 1], lagged=True), method, eps)

        self.train_scores_, self.validation_scores_ = [], []
        if self.n_epochs > 0:
            if not any(p.requires_grad for p in model.parameters()):
                raise ValueError(
                    "the lobe has no trainable parameters; use n_epochs=0 to score it as it is"
                )
            val_fn = None
            if validation is not None:
                vpairs = (self._tensor(V0), self._tensor(V1))

                def val_fn(net):
                    return -float(
                        vamp_score(net(vpairs[0]), net(vpairs[1], lagged=True), method, eps)
                    )

            self.history_ = train(
                model,
                loss,
                pairs,
                val_fn=val_fn,
                epochs=int(self.n_epochs),
                lr=float(self.learning_rate),
                batch_size=int(self.batch_size),
                schedule="constant",
                restore_best=False,
                seed=int(self.seed),
                progress=bool(self.progress),
            )
            self.train_scores_ = [-v for v in self.history_.train_loss]
            self.validation_scores_ = [-v for v in self.history_.val_loss]
        else:
            self.history_ = None
        model.eval()
        self._model = model
        self.lobe_ = model.lobe
        self.lobe_lagged_ = model.lobe if model.lobe_lagged is None else model.lobe_lagged
        self.n_features_in_ = n
        with torch.no_grad():
            F, G = model(pairs[:, 0]), model(pairs[:, 1], lagged=True)
            K, covariances, (W0, W1) = _koopman(F.double(), G.double(), eps)
            U, S, Vh = torch.linalg.svd(K, full_matrices=False)
        self.singular_values_ = S.cpu().numpy()
        self._vamp_e_model = (torch.diag(S), W0 @ U, W1 @ Vh.T)
        return self

    @staticmethod
    def _check_output(model, sample):
        with torch.no_grad():
            out = model(sample)
        if not (isinstance(out, torch.Tensor) and out.ndim == 2 and out.shape[0] == 2):
            raise ValueError(
                "the lobe must map a batch of states (batch, n) to features (batch, k); got "
                f"{type(out).__name__} of shape {tuple(getattr(out, 'shape', ()))}"
            )

    def _check_is_fitted(self, attribute: str = "lobe_") -> None:
        super()._check_is_fitted(attribute)

    def _features(self, X, lagged: bool = False):
        """Lobe outputs for states ``X`` (m, n), as float64 numpy or torch like ``X``."""
        self._check_is_fitted()
        refuse_sparse(X, "VAMPNet")
        A = _as_array(X)
        n = self.n_features_in_
        if A.ndim != 2 or A.shape[1] != n:
            detail = (
                f": X has {A.shape[1]} features, but {type(self).__name__} is expecting {n} "
                "features as input"
                if A.ndim == 2
                else "; Reshape your data: X.reshape(1, -1) for a single state"
            )
            raise ValueError(f"X must have shape (m, {n}), got {tuple(A.shape)}" + detail)
        _check_block(_ops(A), A, "X", (2,))
        with torch.no_grad():
            out = self._model(self._tensor(A), lagged=lagged)
        if is_torch(X):
            return out.to(device=X.device, dtype=X.dtype if X.is_floating_point() else out.dtype)
        return out.cpu().numpy().astype(np.float64)

    def transform(self, X, lagged: bool = False):
        """Learned features ``chi_0(X)`` (or ``chi_1(X)`` with ``lagged``).

        Parameters
        ----------
        X : array of shape (m, n_features)
            States, numpy or torch.
        lagged : bool, default False
            Use the time-lagged lobe (the same one unless ``lobe_lagged`` was given).

        Returns
        -------
        array of shape (m, k)
            numpy float64 for numpy input, torch on the input's device for torch input.
        """
        return self._features(X, lagged)

    def score(self, X, Y=None) -> float:
        """VAMP score of the learned features on (held-out) trajectories or pairs.

        ``score_method="VAMP2"``: ``1 + ||K||_F^2`` of the data's own mean-free covariances
        (:func:`koopkit.vamp.vamp_score` in float64, with the training's ``epsilon``). For
        full-rank features it is :func:`koopkit.vamp.vamp2_score` of ``[1, chi_0(x_t)]`` and
        ``[1, chi_1(x_{t+tau})]``, whose relative cutoff would keep the float32 round-off of
        softmax outputs as a feature. ``"VAMPE"``: the VAMP-E score on these data of the model
        fitted on the training pairs (Wu & Noé 2020, Sec. 3.3).

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Trajectories (pairs at ``lagtime``), or the states at ``t`` with ``Y``.
        Y : array of shape (m, n), optional
            The states at ``t + tau``.

        Returns
        -------
        float
            Between 1 and ``1 + k``; higher is better.
        """
        self._check_is_fitted()
        X0, Y0 = _lagged_pairs(X, Y, int(self.lagtime), "VAMPNet")
        if X0.shape[0] < 2:
            raise ValueError(f"a VAMP score needs at least 2 pairs, got {X0.shape[0]} sample(s)")
        F = torch.as_tensor(_to_numpy(self._features(X0)))
        G = torch.as_tensor(_to_numpy(self._features(Y0, lagged=True)))
        if self.score_method == "VAMP2":
            return float(vamp_score(F, G, "VAMP2", float(self.epsilon)))
        S, U, V = (a.cpu() for a in self._vamp_e_model)
        C00, C01, C11 = _covariances(F, G)
        return float(1 + _vamp_e(S, U, V, C00, C01, C11))

    def koopman_model(self, X, Y=None):
        """The linear Koopman model of the learned features: EDMD on ``[1, chi_0(x)]``.

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Trajectories (pairs at ``lagtime``), or the states at ``t`` with ``Y``.
        Y : array of shape (m, n), optional
            The states at ``t + tau``.

        Returns
        -------
        koopkit.EDMD
            Fitted on the pairs with :class:`LobeFeatures` of ``lobe_``: ``eigenvalues_`` are
            discrete-time **per lagtime steps** (``continuous_eigenvalues(lagtime * dt)``
            converts), implied timescales are ``-lagtime / log|lambda|`` steps.
        """
        from koopkit.edmd import EDMD

        self._check_is_fitted()
        X0, Y0 = _lagged_pairs(X, Y, int(self.lagtime), "VAMPNet")
        return EDMD(dictionary=LobeFeatures(self.lobe_)).fit(X0, Y0)


def _to_numpy(A):
    return A.detach().cpu().numpy() if is_torch(A) else np.asarray(A)


class LobeFeatures(Dictionary):
    """A trained network as a dictionary: ``psi(x) = [1, lobe(x)]`` (or ``lobe(x)``).

    Parameters
    ----------
    lobe : torch.nn.Module
        Maps states (m, n) to features (m, k); evaluated without gradients, in its own device
        and dtype.
    constant : bool, default True
        Prepend the constant function (its Koopman eigenvalue is 1).
    """

    def __init__(self, lobe: nn.Module, constant: bool = True):
        self.lobe = lobe
        self.constant = constant

    def _fit(self, X):
        if not isinstance(self.lobe, nn.Module):
            raise ValueError(f"lobe must be a torch.nn.Module, got {self.lobe!r}")
        self.n_output_features_ = int(self.transform(X[:1]).shape[1])

    state_matrix_ = None

    def transform(self, X):
        """Features of ``X`` (m, n): shape (m, k + constant), numpy or torch as ``X``."""
        ops, X = self._check_input(X)
        ref = next(iter(self.lobe.parameters()), None)
        device = ref.device if ref is not None else "cpu"
        dtype = ref.dtype if ref is not None else torch.float64
        with torch.no_grad():
            out = self.lobe(torch.as_tensor(ops.to_numpy(X)).to(device=device, dtype=dtype))
        out = ops.asarray(out.double().cpu().numpy())
        if self.constant:
            out = ops.concat([out[:, :1] * 0 + 1, out], axis=1)
        return out

    def _names(self, names):
        k = self.n_output_features_ - int(self.constant)
        return (["1"] if self.constant else []) + [f"chi{j}" for j in range(k)]
