"""Every finite input either fits with finite outputs or raises a clear ValueError.

The linear estimators are fuzzed with hypothesis on arbitrary finite matrices and on the
degenerate ones that broke them before (zeros, constant columns, duplicated rows, rank-1 data,
tiny and huge scales): never a LinAlgError, a ZeroDivisionError, a NaN/Inf attribute, or a
numpy warning about invalid arithmetic. Ranks above the numerical rank are lowered with a
warning instead of producing spurious eigenvalues.

Examples per estimator: 40 in the suite; ``KOOPKIT_FUZZ_EXAMPLES=5000`` for a deeper search.
"""

import os
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, note, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from koopkit import DMD, EDMD, KernelEDMD
from koopkit.dictionaries import RBF, Concat, Identity, Polynomial
from koopkit.linalg import NumericalRankWarning

FUZZ_EXAMPLES = int(os.environ.get("KOOPKIT_FUZZ_EXAMPLES", "40"))

ESTIMATORS = {
    "DMD()": lambda X: DMD(),
    "DMD(rank=full)": lambda X: DMD(rank=min(X.shape[0] - 1, X.shape[1])),
    "DMD(svd=gram)": lambda X: DMD(rank=-1, svd="gram"),
    "DMD(svd=randomized)": lambda X: DMD(rank=1, svd="randomized"),
    "DMD(forward_backward)": lambda X: DMD(rank=1, forward_backward=True),
    "DMD(tlsq_rank)": lambda X: DMD(rank=1, tlsq_rank=1),
    "EDMD()": lambda X: EDMD(),
    "EDMD(Polynomial(2))": lambda X: EDMD(dictionary=Polynomial(2)),
    "EDMD(regularization)": lambda X: EDMD(dictionary=Polynomial(2), regularization=1e-3),
    "EDMD(RBF)": lambda X: EDMD(dictionary=Concat([Identity(), RBF(n_centers=1)])),
    "KernelEDMD()": lambda X: KernelEDMD(),
    "KernelEDMD(rank=full)": lambda X: KernelEDMD(rank=X.shape[0] - 1),
    "KernelEDMD(polynomial)": lambda X: KernelEDMD(kernel="polynomial", degree=3),
}


@st.composite
def snapshot_matrices(draw):
    """Finite (T, n) matrices: arbitrary floats, or structured degenerate data at any scale."""
    T, n = draw(st.integers(2, 9)), draw(st.integers(1, 5))
    kind = draw(st.sampled_from(["any", "low_rank", "constant", "duplicates", "zeros"]))
    if kind == "any":
        finite = st.floats(allow_nan=False, allow_infinity=False)
        return draw(arrays(np.float64, (T, n), elements=finite | st.sampled_from([0.0, 1.0])))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = 10.0 ** draw(st.integers(-300, 300))
    if kind == "low_rank":
        X = rng.normal(size=(T, 1)) @ rng.normal(size=(1, n))
    elif kind == "constant":
        X = rng.normal(size=(T, n))
        X[:, draw(st.integers(0, n - 1))] = rng.normal()
    elif kind == "duplicates":
        X = rng.normal(size=(T, n))
        X[draw(st.integers(1, T - 1))] = X[0]
    else:
        X = np.zeros((T, n))
    return X * scale


def assert_fits_or_refuses(estimator, X):
    """fit(X) gives finite attributes, or a ValueError that is not numpy's LinAlgError."""
    note(f"X = np.array({np.asarray(X).tolist()!r})")  # full precision, for reproduction
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumericalRankWarning)
        warnings.simplefilter("error", RuntimeWarning)  # overflow / invalid value inside
        try:
            estimator.fit(X)
        except np.linalg.LinAlgError:  # a ValueError subclass, but not a clear one
            raise
        except ValueError as error:
            assert str(error)
            return
    for name in ["eigenvalues_", "modes_", "amplitudes_"]:
        value = np.asarray(getattr(estimator, name))
        assert np.isfinite(value).all(), f"{name} is not finite"


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@settings(max_examples=FUZZ_EXAMPLES)
@given(X=snapshot_matrices())
def test_finite_data_fit_or_clear_value_error(name, X):
    assert_fits_or_refuses(ESTIMATORS[name](X), X)


@settings(max_examples=FUZZ_EXAMPLES)
@given(X=snapshot_matrices())
def test_torch_input_fits_or_refuses_like_numpy(X):
    assert_fits_or_refuses(DMD(rank=-1), torch.from_numpy(X))


def rank_one_trajectory(lam=0.8, n=5, T=12):
    """x_k = lam^k v: numerical rank 1, eigenvalue lam."""
    v = np.random.default_rng(0).normal(size=n)
    return (lam ** np.arange(T))[:, None] * v[None, :]


@pytest.mark.parametrize(
    "estimator",
    [DMD(rank=3), DMD(rank=3, svd="gram"), DMD(rank=3, svd="svd"), EDMD(rank=3)],
    ids=lambda e: repr(e),
)
def test_rank_above_numerical_rank_is_lowered_with_warning(estimator):
    X = rank_one_trajectory()
    with pytest.warns(NumericalRankWarning, match="numerical rank 1"):
        estimator.fit(X)
    assert estimator.rank_ == 1
    np.testing.assert_allclose(estimator.eigenvalues_, [0.8], rtol=1e-10)


def test_kernel_edmd_rank_above_numerical_rank_is_lowered_with_warning():
    X = np.ones((6, 2))  # constant data: the kernel matrix has rank 1
    with pytest.warns(NumericalRankWarning, match="numerical rank 1"):
        kedmd = KernelEDMD(rank=4).fit(X)
    assert kedmd.rank_ == 1
    np.testing.assert_allclose(kedmd.eigenvalues_, [1.0], rtol=1e-10)


def test_default_rules_cap_silently_at_numerical_rank():
    X = rank_one_trajectory()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert DMD(rank=-1).fit(X).rank_ == 1
        assert EDMD().fit(X).rank_ == 1
        assert DMD().fit(X).rank_ == 1


def test_zero_data_and_overflowing_dynamics_raise_clear_errors():
    with pytest.raises(ValueError, match="is zero"):
        DMD().fit(np.zeros((5, 3)))
    with pytest.raises(ValueError, match="exceed the range"):
        DMD(rank=1).fit(np.array([[1e-200], [1e200]]))
    with pytest.raises(ValueError, match="dictionary gives NaN or Inf features"):
        EDMD(dictionary=Polynomial(3)).fit(np.full((4, 2), 1e200))
    with pytest.raises(ValueError, match="kernel overflows"):
        KernelEDMD(kernel="polynomial", degree=3).fit(np.full((4, 2), 1e200))


@pytest.mark.parametrize("scale", [1e-300, 1e-150, 1e150, 1e300])
@pytest.mark.parametrize("svd", ["svd", "gram", "randomized"])
def test_dmd_spectrum_is_scale_invariant(scale, svd):
    rng = np.random.default_rng(1)
    A = np.linalg.qr(rng.normal(size=(4, 4)))[0] * 0.9
    X = np.empty((20, 4))
    X[0] = rng.normal(size=4)
    for k in range(19):
        X[k + 1] = A @ X[k]
    ref = DMD(rank=4, svd=svd).fit(X)
    scaled = DMD(rank=4, svd=svd).fit(X * scale)
    np.testing.assert_allclose(scaled.eigenvalues_, ref.eigenvalues_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(scaled.singular_values_ / scale, ref.singular_values_, rtol=1e-9)
    np.testing.assert_allclose(scaled.predict(X[0] * scale, 3) / scale, X[:4], atol=1e-9)
