"""VAMPNet: the differentiable VAMP scores (laws, and deeptime's numbers) and the estimator,
trained on a double well whose slow process is known."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from torch import nn

import koopkit as kk
from koopkit.systems import DoubleWell
from koopkit.vamp import vamp2_score, vamp_score
from koopkit.vampnet import LobeFeatures

finite = st.floats(-3, 3, allow_nan=False, allow_subnormal=False)


def _pairs(seed, m=60, n=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, n))
    Y = X @ rng.normal(size=(n, n)) * 0.7 + 0.5 * rng.normal(size=(m, n))
    return X, Y


def _with_constant(A):
    return np.hstack([np.ones((A.shape[0], 1)), A])


# ------------------------------------------------------------------ laws of the score


@given(seed=st.integers(0, 2**16), n=st.integers(1, 4))
def test_vamp2_of_identity_features_is_the_vamp2_score_of_the_state(seed, n):
    X, Y = _pairs(seed, n=n)
    expected = vamp2_score(_with_constant(X), _with_constant(Y))
    torch_score = float(vamp_score(torch.as_tensor(X), torch.as_tensor(Y), epsilon=1e-12))
    assert np.isclose(torch_score, expected, rtol=1e-9)
    net = kk.VAMPNet(lobe=nn.Identity(), n_epochs=0, dtype="float64").fit(X, Y)
    assert np.isclose(net.score(X, Y), expected, rtol=1e-9)


@given(
    seed=st.integers(0, 2**16),
    A=arrays(np.float64, (3, 3), elements=finite),
    b=arrays(np.float64, (3,), elements=finite),
)
def test_vamp2_is_invariant_under_invertible_affine_maps_of_the_features(seed, A, b):
    if abs(np.linalg.det(A)) < 0.1 or np.linalg.cond(A) > 1e3:
        A = A + 3 * np.eye(3)
    X, Y = (torch.as_tensor(a) for a in _pairs(seed))
    At, bt = torch.as_tensor(A), torch.as_tensor(b)
    plain = float(vamp_score(X, Y, epsilon=1e-12))
    mapped = float(vamp_score(X @ At + bt, Y @ At - bt, epsilon=1e-12))
    assert np.isclose(plain, mapped, rtol=1e-7)


@given(seed=st.integers(0, 2**16))
def test_vampe_of_the_model_fitted_on_the_same_pairs_equals_vamp2(seed):
    X, Y = (torch.as_tensor(a) for a in _pairs(seed))
    assert np.isclose(float(vamp_score(X, Y, "VAMPE")), float(vamp_score(X, Y, "VAMP2")))


def test_vamp2_equals_deeptimes_vamp2_on_the_same_features():
    from deeptime.decomposition.deep import vamp_score as deeptime_vamp_score

    X, Y = (torch.as_tensor(a) for a in _pairs(3, m=300))
    for F, G in ((X, Y), (torch.softmax(X, -1), torch.softmax(Y, -1))):
        ours = float(vamp_score(F, G, "VAMP2", epsilon=1e-6))
        theirs = float(deeptime_vamp_score(F, G, method="VAMP2", epsilon=1e-6, mode="trunc"))
        assert np.isclose(ours, theirs, rtol=1e-10)


def test_gradients_flow_through_the_score():
    X, Y = (torch.as_tensor(a) for a in _pairs(0))
    W = torch.randn(3, 2, dtype=torch.float64, requires_grad=True)
    score = vamp_score(torch.tanh(X @ W), torch.tanh(Y @ W))
    score.backward()
    assert W.grad is not None and torch.isfinite(W.grad).all() and W.grad.abs().sum() > 0


# ------------------------------------------------------------------ the estimator


@pytest.fixture(scope="module")
def double_well():
    system = DoubleWell()
    return system, system.trajectories(12, 1000, 0.05, seed=0)


@pytest.fixture(scope="module")
def trained(double_well):
    _, X = double_well
    return kk.VAMPNet(
        lagtime=10, n_epochs=4, batch_size=512, learning_rate=5e-3, hidden=32, seed=0
    ).fit(X[:10], validation=X[10:])


def test_vampnet_finds_the_slow_process_of_a_double_well(double_well, trained):
    system, X = double_well
    # the learned membership separates the wells
    chi = trained.transform(X[10:].reshape(-1, 2))
    assert abs(np.corrcoef(chi[:, 0], np.sign(X[10:, :, 0].ravel()))[0, 1]) > 0.95
    # the Koopman model of the learned features has the known slow eigenvalue at lag 10 * 0.05
    model = trained.koopman_model(X)
    exact = np.exp(system.slow_rate() * 10 * 0.05)
    assert abs(np.abs(model.eigenvalues_[1]) - exact) < 0.01
    assert np.isclose(abs(model.eigenvalues_[0]), 1.0)
    # held-out VAMP-2: above an untrained lobe, below the bound 1 + lambda_2^2 (plus noise)
    untrained = kk.VAMPNet(lagtime=10, n_epochs=0, hidden=32).fit(X[:10])
    held_out = trained.score(X[10:])
    assert untrained.score(X[10:]) < held_out < 1 + exact**2 + 0.02
    assert np.isclose(held_out, trained.validation_scores_[-1], atol=1e-4)
    assert len(trained.train_scores_) == 4 and trained.singular_values_.shape == (2,)


def test_vampe_training_and_scoring(double_well):
    _, X = double_well
    net = kk.VAMPNet(
        lagtime=10, n_epochs=2, batch_size=512, learning_rate=5e-3, hidden=16, score_method="VAMPE"
    ).fit(X[:10])
    vamp2 = kk.VAMPNet(lagtime=10, n_epochs=0, hidden=16).fit(X[:10])
    assert 1.5 < net.score(X[10:]) <= 2.0
    assert net.score(X[:10]) > vamp2.score(X[:10])


def test_numpy_in_numpy_out_torch_in_torch_out(trained, double_well):
    _, X = double_well
    states = X[0, :5]
    out = trained.transform(states)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (5, 2)
    tensor = trained.transform(torch.as_tensor(states))
    assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.float64
    np.testing.assert_allclose(tensor.numpy(), out, atol=1e-6)
    lagged = trained.transform(states, lagged=True)  # the shared lobe
    np.testing.assert_allclose(lagged, out)


def test_separate_lagged_lobe_is_trained_and_the_arguments_keep_their_weights(double_well):
    _, X = double_well
    torch.manual_seed(0)
    lobe, lagged = (
        nn.Sequential(nn.Linear(2, 2), nn.Tanh()),
        nn.Sequential(nn.Linear(2, 2), nn.Tanh()),
    )
    before = lobe[0].weight.detach().clone()
    net = kk.VAMPNet(lobe=lobe, lobe_lagged=lagged, lagtime=10, n_epochs=1, learning_rate=1e-2)
    net.fit(X[:10])
    assert net.lobe_ is not net.lobe_lagged_
    assert torch.equal(lobe[0].weight, before)
    assert not torch.equal(net.lobe_[0].weight, before)


def test_koopman_model_is_an_edmd_on_the_features_with_a_summary_plot(trained, double_well):
    import matplotlib.pyplot as plt

    _, X = double_well
    model = trained.koopman_model(X)
    assert isinstance(model, kk.EDMD) and isinstance(model.dictionary_, LobeFeatures)
    assert model.dictionary_.feature_names() == ["1", "chi0", "chi1"]
    fig = kk.analysis.plot_summary(model, X, dt=0.5)
    assert len(fig.subfigs) == 3
    plt.close(fig)


def test_bad_input_gets_clear_errors(double_well):
    _, X = double_well
    broken = X[0].copy()
    broken[5, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        kk.VAMPNet(n_epochs=0).fit(broken)
    with pytest.raises(ValueError, match="X and Y must have the same shape"):
        kk.VAMPNet(n_epochs=0).fit(X[0, :-1], X[0, 1:-1])
    with pytest.raises(ValueError, match="a pair needs at least 21 snapshots"):
        kk.VAMPNet(lagtime=20, n_epochs=0).fit(X[0, :10])
    with pytest.raises(ValueError, match="n_epochs must be a non-negative integer"):
        kk.VAMPNet(n_epochs=-1).fit(X[0])
    with pytest.raises(ValueError, match="score_method must be one of"):
        kk.VAMPNet(score_method="VAMP3").fit(X[0])
    with pytest.raises(ValueError, match="lagtime must be a positive integer"):
        kk.VAMPNet(lagtime=0).fit(X[0])
    with pytest.raises(ValueError, match="lobe must be a torch.nn.Module"):
        kk.VAMPNet(lobe=lambda x: x).fit(X[0])
    with pytest.raises(ValueError, match=r"features \(batch, k\)"):
        kk.VAMPNet(lobe=nn.Flatten(0), n_epochs=0).fit(X[0])
    with pytest.raises(ValueError, match="no trainable parameters"):
        kk.VAMPNet(lobe=nn.Identity(), n_epochs=1).fit(X[0])
    with pytest.raises(ValueError, match="Complex data not supported"):
        kk.VAMPNet(n_epochs=0).fit(X[0] + 1j)
    with pytest.raises(ValueError, match="at least 2 time-lagged pairs"):
        kk.VAMPNet(n_epochs=0).fit(X[0, :2])
    with pytest.raises(kk.NotFittedError, match="not fitted"):
        kk.VAMPNet().transform(X[0])
    fitted = kk.VAMPNet(n_epochs=0).fit(X[0])
    with pytest.raises(ValueError, match=r"X must have shape \(m, 2\)"):
        fitted.transform(np.zeros((3, 3)))


def test_import_koopkit_stays_torch_free_until_vampnet_is_used():
    code = (
        "import sys, koopkit\n"
        "import koopkit.gedmd, koopkit.analysis.plotting\n"
        "print('torch' in sys.modules)\n"
        "koopkit.VAMPNet\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


def test_example15_learns_the_double_well_and_saves_its_figure(tmp_path):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "15_vampnets.py"
    spec = importlib.util.spec_from_file_location("koopkit_example_15", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(["--out", str(tmp_path), "--epochs", "2"])
    assert results["trained_score"] > results["untrained_score"] + 0.05
    # as good as the hand-made coordinate on the same pairs, near the exact eigenvalue
    assert abs(results["trained_score"] - results["hand_made_score"]) < 0.01
    assert abs(results["learned_eigenvalue"] - results["exact_eigenvalue"]) < 0.01
    assert (tmp_path / "vampnet.png").stat().st_size > 20_000
