"""The first hour with koopkit: scikit-learn transformers as dictionaries, and errors that
point PyDMD users to the koopkit spelling instead of failing cryptically."""

import numpy as np
import pytest
import torch
from sklearn.kernel_approximation import Nystroem
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from koopkit import DMD, EDMD, KernelEDMD
from koopkit.dictionaries import Polynomial, SklearnTransformer, as_dictionary
from koopkit.systems import LinearSystem, SlowManifold

DT = 0.1


@pytest.fixture(scope="module")
def slow_manifold():
    sm = SlowManifold(mu=-0.1, lam=-1.0)
    return sm, sm.trajectories(20, 30, DT, seed=0)


def test_polynomial_features_dictionary_equals_koopkit_polynomial(slow_manifold):
    _, X = slow_manifold
    ours = EDMD(dictionary=Polynomial(3)).fit(X)
    theirs = EDMD(dictionary=PolynomialFeatures(3)).fit(X)
    assert isinstance(theirs.dictionary_, SklearnTransformer)
    np.testing.assert_allclose(
        np.sort_complex(theirs.eigenvalues_), np.sort_complex(ours.eigenvalues_), atol=1e-12
    )
    # The degree-1 features are the state: the exact state matrix is found.
    B = theirs.dictionary_.state_matrix_
    np.testing.assert_array_equal(theirs.dictionary_.transform(X[0]) @ B, X[0])
    np.testing.assert_allclose(theirs.predict(X[0, 0], 30), X[0], atol=1e-10)


def test_pipeline_without_the_state_reconstructs_it_by_least_squares(slow_manifold):
    sm, X = slow_manifold
    pipeline = make_pipeline(StandardScaler(), PolynomialFeatures(2))
    edmd = EDMD(dictionary=pipeline).fit(X)
    assert edmd.dictionary_.state_matrix_ is None  # scaled coordinates, not the state
    assert not hasattr(pipeline, "n_features_in_")  # the user's object is left unfitted
    # The state is affine in the scaled features, so the least-squares modes are exact.
    np.testing.assert_allclose(edmd.predict(X[3, 0], 30), X[3], atol=1e-10)
    for lam in sm.discrete_koopman_eigenvalues(DT):
        assert np.min(np.abs(edmd.eigenvalues_ - lam)) < 1e-10
    assert edmd.dictionary_.feature_names()[:3] == ["1", "x0", "x1"]


def test_nystroem_features_work_on_numpy_and_torch(slow_manifold):
    _, X = slow_manifold
    edmd = EDMD(dictionary=Nystroem(gamma=0.5, n_components=60, random_state=0)).fit(X)
    assert np.abs(edmd.predict(X[0, 0], 30) - X[0]).max() < 1e-3
    on_torch = EDMD(dictionary=PolynomialFeatures(3)).fit(torch.from_numpy(X))
    out = on_torch.predict(torch.from_numpy(X[0, 0]), 30)
    assert isinstance(out, torch.Tensor)
    np.testing.assert_allclose(out.numpy(), X[0], atol=1e-10)


def test_anything_else_as_dictionary_gets_a_clear_error(slow_manifold):
    _, X = slow_manifold
    with pytest.raises(ValueError, match="scikit-learn transformer instance"):
        EDMD(dictionary=PolynomialFeatures).fit(X)  # the class, not an instance
    with pytest.raises(ValueError, match="koopkit Dictionary or a scikit-learn transformer"):
        as_dictionary("poly")


def test_pydmd_keyword_arguments_name_the_koopkit_ones():
    with pytest.raises(TypeError, match="svd_rank.*rank="):
        DMD(svd_rank=5)
    with pytest.raises(TypeError, match="method='exact'"):
        DMD(exact=True)
    with pytest.raises(TypeError, match="rank="):
        EDMD(svd_rank=3)
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        DMD(nope=1)


@pytest.mark.parametrize(
    ("pydmd_name", "koopkit_name"),
    [
        ("eigs", "eigenvalues_"),
        ("modes", "modes_"),
        ("amplitudes", "amplitudes_"),
        ("dynamics", "predict"),
        ("reconstructed_data", "reconstruct()"),
        ("plot_eigs", "koopkit.analysis.plotting.plot_eigenvalues"),
        ("atilde", "operator_"),
    ],
)
def test_pydmd_attributes_name_the_koopkit_ones(pydmd_name, koopkit_name):
    X = LinearSystem(np.array([[0.0, 1.0], [-1.0, 0.0]])).simulate([1.0, 0.0], 30, DT)
    dmd = DMD(rank=2).fit(X)
    with pytest.raises(AttributeError, match=f"PyDMD name.*{koopkit_name}"):
        getattr(dmd, pydmd_name)
    assert not hasattr(DMD(), pydmd_name)
    with pytest.raises(AttributeError, match="no attribute 'nope'$"):
        dmd.nope  # noqa: B018


def test_pydmd_layout_gets_a_samples_as_rows_message_not_a_rank_error():
    X = LinearSystem(np.array([[0.0, 1.0], [-1.0, 0.0]])).simulate([1.0, 0.0], 200, DT)
    with pytest.raises(ValueError, match=r"samples as rows.*pass X\.T"):
        DMD(rank=2).fit(X.T)  # (2, 201): 2 "snapshots" of 201 "features"
    with pytest.raises(ValueError, match=r"samples as rows.*pass X\.T"):
        DMD().fit(X[:, :1].T)  # one row: PyDMD's layout of a scalar series
    with pytest.raises(ValueError, match=r"tlsq_rank.*samples as rows"):
        DMD(rank=1, tlsq_rank=2).fit(X.T)
    assert DMD(rank=2).fit(X).rank_ == 2  # the same data as rows fit


def test_kernel_edmd_complex_refusal_names_the_estimator():
    X = np.ones((5, 2)) * (1 + 1j)
    with pytest.raises(ValueError, match="Complex data not supported: KernelEDMD"):
        KernelEDMD().fit(X)
