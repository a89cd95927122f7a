"""Complex snapshots: DMD recovers complex spectra exactly; nothing is ever cast to real."""

import numpy as np
import pytest
import torch

from koopkit import DMD, EDMD, KernelEDMD
from koopkit.dictionaries import RBF, Identity, Polynomial, RandomFourier

TRUE = np.array([0.86 + 0.27j, 0.5 - 0.3j, -0.7 + 0.1j])


def complex_linear_trajectory(T=40, n=6, seed=0):
    """x_{k+1} = A x_k with A = V diag(TRUE) V^+ (complex, no conjugate pairs)."""
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(n, 3)) + 1j * rng.normal(size=(n, 3))
    b = rng.normal(size=3) + 1j * rng.normal(size=3)
    return (TRUE[None, :] ** np.arange(T)[:, None] * b) @ V.T


def sorted_complex(values):
    values = values.numpy() if isinstance(values, torch.Tensor) else values
    return np.sort_complex(np.asarray(values))


VARIANTS = [
    {"svd": "svd"},
    {"svd": "gram"},
    {"svd": "randomized"},
    {"method": "projected"},
    {"forward_backward": True},
    {"tlsq_rank": 3},
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: ",".join(f"{k}={v[k]}" for k in v))
def test_dmd_recovers_complex_eigenvalues_exactly(variant):
    X = complex_linear_trajectory()
    dmd = DMD(rank=3, **variant).fit(X)
    np.testing.assert_allclose(sorted_complex(dmd.eigenvalues_), np.sort_complex(TRUE), atol=1e-12)
    prediction = dmd.predict(X[0], len(X) - 1)
    assert np.iscomplexobj(prediction)
    np.testing.assert_allclose(prediction, X, atol=1e-11)
    np.testing.assert_allclose(dmd.modes_ @ dmd.amplitudes_, X[0], atol=1e-12)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: ",".join(f"{k}={v[k]}" for k in v))
def test_dmd_on_complex_torch_tensors(variant):
    X = complex_linear_trajectory()
    dmd = DMD(rank=3, **variant).fit(torch.from_numpy(X))
    assert dmd.eigenvalues_.dtype == torch.complex128
    np.testing.assert_allclose(sorted_complex(dmd.eigenvalues_), np.sort_complex(TRUE), atol=1e-12)
    out = dmd.predict(torch.from_numpy(X[0]), 5)
    assert isinstance(out, torch.Tensor) and out.is_complex()
    np.testing.assert_allclose(out.numpy(), X[:6], atol=1e-12)
    single = DMD(rank=3, **variant).fit(torch.from_numpy(X.astype(np.complex64)))
    assert single.eigenvalues_.dtype == torch.complex64
    np.testing.assert_allclose(
        sorted_complex(single.eigenvalues_), np.sort_complex(TRUE), atol=1e-3
    )


def test_complex_dmd_matches_pydmd():
    pydmd = pytest.importorskip("pydmd")
    X = complex_linear_trajectory() + 1e-3 * np.random.default_rng(5).normal(size=(40, 6))
    ours = DMD(rank=3).fit(X)
    theirs = pydmd.DMD(svd_rank=3, exact=True).fit(X.T)  # PyDMD: snapshots as columns
    order = [int(np.argmin(np.abs(theirs.eigs - lam))) for lam in ours.eigenvalues_]
    np.testing.assert_allclose(theirs.eigs[order], ours.eigenvalues_, atol=1e-12)
    # Modes are defined up to a scale; mode times amplitude is not.
    np.testing.assert_allclose(
        theirs.modes[:, order] * theirs.amplitudes[order], ours.modes_ * ours.amplitudes_, atol=1e-9
    )


def test_complex_pairs_batches_and_lists():
    X = complex_linear_trajectory()
    for fitted in [
        DMD(rank=3).fit(X[:-1], X[1:]),
        DMD(rank=3).fit(np.stack([X, 2j * X])),
        DMD(rank=3).fit([X, X[:10]]),
    ]:
        assert np.iscomplexobj(fitted.modes_)
        assert sorted_complex(fitted.eigenvalues_) == pytest.approx(np.sort_complex(TRUE))
    # Real states with complex successors y = M x make a complex model with M's spectrum.
    rng = np.random.default_rng(2)
    M = rng.normal(size=(3, 3)) + 1j * rng.normal(size=(3, 3))
    real_states = rng.normal(size=(20, 3))
    fitted = DMD(rank=-1).fit(real_states, real_states @ M.T)
    assert sorted_complex(fitted.eigenvalues_) == pytest.approx(
        np.sort_complex(np.linalg.eigvals(M))
    )


def test_edmd_with_holomorphic_dictionaries_accepts_complex_data():
    X = complex_linear_trajectory()
    edmd = EDMD(dictionary=Identity()).fit(X)
    np.testing.assert_allclose(
        sorted_complex(edmd.eigenvalues_[:3]), np.sort_complex(TRUE), atol=1e-10
    )
    # The monomials z_i z_j of the eigen-coordinates have eigenvalues lambda_i lambda_j.
    poly = EDMD(dictionary=Polynomial(2), rank=10).fit(X[:, :3])
    for lam in [1.0, *TRUE, TRUE[0] ** 2, TRUE[0] * TRUE[1]]:
        assert np.min(np.abs(poly.eigenvalues_ - lam)) < 1e-8


@pytest.mark.parametrize(
    "estimator",
    [EDMD(dictionary=RBF(n_centers=3)), EDMD(dictionary=RandomFourier(10)), KernelEDMD()],
    ids=lambda e: repr(e),
)
def test_estimators_that_cannot_take_complex_data_refuse_it(estimator):
    X = complex_linear_trajectory()
    with pytest.raises(ValueError, match="Complex data not supported"):
        estimator.fit(X)
    with pytest.raises(ValueError, match="Complex data not supported"):
        estimator.fit(torch.from_numpy(X))


def test_real_model_refuses_complex_input_instead_of_dropping_imaginary_part():
    X = complex_linear_trajectory().real
    dmd = DMD(rank=3).fit(X)
    with pytest.raises(ValueError, match="complex values where real ones are expected"):
        dmd.predict(X[0] + 1j, 3)
    with pytest.raises(ValueError, match="Complex data not supported"):
        RBF(n_centers=2).fit(X).transform(X + 1j)


@pytest.mark.parametrize("kind", ["numpy", "torch", "float32"])
def test_real_times_complex_equals_the_complex_product(kind):
    """DMD's modes ``B @ W`` (real B, complex W) come from two real products."""
    from koopkit._backend import ops_for

    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 4))
    b = rng.normal(size=(4, 3)) + 1j * rng.normal(size=(4, 3))
    if kind == "float32":
        a, b = a.astype(np.float32), b.astype(np.complex64)
    like = torch.from_numpy(a) if kind == "torch" else a
    ops = ops_for(like)
    a_, b_ = ops.asarray(a), ops.ascomplex(b)
    product = ops.to_numpy(ops.real_times_complex(a_, b_))
    assert product.dtype == (np.complex64 if kind == "float32" else np.complex128)
    np.testing.assert_allclose(
        product, a.astype(complex) @ b, rtol=1e-5 if kind == "float32" else 1e-14
    )
