"""plot_summary: one figure with the singular values, both spectra, the leading modes and their
dynamics, for every estimator with a spectrum."""

import matplotlib
import numpy as np
import pytest

import koopkit as kk
from koopkit.analysis import plot_summary
from koopkit.dictionaries import Polynomial
from koopkit.spectrum import Spectrum
from koopkit.systems import LinearSystem, SlowManifold

matplotlib.use("Agg")
DT = 0.1


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt

    yield
    plt.close("all")


def _oscillator_data():
    A = np.array([[-0.05, 2.0, 0.0], [-2.0, -0.05, 0.0], [0.0, 0.0, -0.5]])
    return LinearSystem(A).trajectories(4, 60, DT, seed=0)


def _panels(fig):
    top, middle, bottom = fig.subfigs
    return top.axes, middle.axes, bottom.axes


def _drawn_points(ax):
    """Every scatter point of an Axes as complex numbers x + iy."""
    points = [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    xy = np.concatenate(points) if points else np.zeros((0, 2))
    return xy[:, 0] + 1j * xy[:, 1]


def _contains(drawn, expected, tol=1e-9):
    return all(np.abs(drawn - z).min() <= tol * max(1.0, abs(z)) for z in expected)


def _fitted(name):
    X = _oscillator_data()
    U = np.random.default_rng(0).normal(size=(X.shape[0], X.shape[1] - 1, 1))
    return {
        "DMD": (kk.DMD(rank=3).fit(X), X),
        "EDMD": (kk.EDMD(dictionary=Polynomial(2)).fit(X), X),
        "KernelEDMD": (kk.KernelEDMD(rank=8, gamma=0.5).fit(X), X),
        # the first coordinate sees only the oscillating pair: two delay directions
        "HankelDMD": (kk.HankelDMD(delays=3, rank=2).fit(X[:, :, :1]), X[:, :, :1]),
        "OptDMD": (kk.OptDMD(rank=3).fit(X[0]), X[0]),
        "DMDc": (kk.DMDc().fit(X, U), X),
        "EDMDc": (kk.EDMDc(dictionary=Polynomial(2)).fit(X, U), X),
    }[name]


ESTIMATORS = ["DMD", "EDMD", "KernelEDMD", "HankelDMD", "OptDMD", "DMDc", "EDMDc"]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_summary_draws_the_models_own_eigenvalues_in_both_panels(name):
    model, X = _fitted(name)
    fig = plot_summary(model, X, dt=DT)
    (ax_sv, ax_disc, ax_cont), modes, dynamics = _panels(fig)
    eigenvalues = np.asarray(model.eigenvalues_)
    assert _contains(_drawn_points(ax_disc), eigenvalues)
    omega = np.log(eigenvalues) / DT
    assert _contains(_drawn_points(ax_cont), omega.real + 1j * omega.imag / (2 * np.pi))
    # singular values of the regressed data (for DMDc/EDMDc of the state part: U is not passed),
    # normalised by the largest
    ydata = np.concatenate([line.get_ydata() for line in ax_sv.lines if line.get_marker() == "o"])
    assert ydata.size >= min(model.rank_, 3) and np.isclose(ydata.max(), 1.0)
    assert len(modes) == len(dynamics) == 3
    assert all(ax.lines or ax.images or ax.texts for ax in modes)


def test_singular_value_panel_marks_the_kept_rank_of_dmd():
    X = _oscillator_data()
    model = kk.DMD(rank=2).fit(X)
    fig = plot_summary(model, X, dt=DT)
    ax_sv = _panels(fig)[0][0]
    kept, dropped = (line for line in ax_sv.lines if line.get_marker() == "o")
    assert list(kept.get_xdata()) == [1, 2] and list(dropped.get_xdata()) == [3]
    s = np.linalg.svd(X[:, :-1].reshape(-1, 3), compute_uv=False)
    np.testing.assert_allclose(np.concatenate([kept.get_ydata(), dropped.get_ydata()]), s / s[0])
    assert any(np.allclose(line.get_xdata(), 2.5) for line in ax_sv.lines)  # the rank line


def test_leading_modes_are_the_largest_amplitudes_one_per_conjugate_pair():
    X = _oscillator_data()
    model = kk.DMD(rank=3).fit(X)
    fig = plot_summary(model, X, dt=DT, n_modes=2)
    _, modes, dynamics = _panels(fig)
    ev = np.asarray(model.eigenvalues_)
    weight = np.abs(model.amplitudes_) * np.linalg.norm(model.modes_, axis=0)
    titles = [ax.get_title() for ax in modes]
    # the pair at 2 rad/time is one entry, drawn by its upper member
    upper = int(np.argmax(ev.imag))
    real = int(np.argmin(np.abs(ev.imag)))
    order = sorted([upper, real], key=lambda j: -weight[j])
    assert [t.split(":")[0] for t in titles] == [f"mode {j}" for j in order]
    # the dynamics of each drawn mode is Re(b ||m|| e^{i theta} lambda^k): its start value
    for ax, j in zip(dynamics, order, strict=True):
        mode = model.modes_[:, j]
        peak = mode[np.argmax(np.abs(mode))]
        start = (model.amplitudes_[j] * np.linalg.norm(mode) * peak / abs(peak)).real
        assert np.isclose(ax.lines[0].get_ydata()[0], start)


def test_modes_of_a_2d_grid_are_drawn_as_images_of_the_given_shape():
    rng = np.random.default_rng(0)
    rows, cols = 6, 5
    patterns = rng.normal(size=(2, rows * cols))
    t = DT * np.arange(80)
    X = np.outer(np.cos(1.5 * t), patterns[0]) + np.outer(np.sin(1.5 * t), patterns[1])
    model = kk.DMD(rank=2).fit(X)
    fig = plot_summary(model, X, dt=DT, shape=(rows, cols), n_modes=1)
    ax_mode = _panels(fig)[1][0]  # then its colour bar
    assert ax_mode.images and ax_mode.images[0].get_array().shape == (rows, cols)
    with pytest.raises(ValueError, match=r"rows \* cols == n_features \(30\)"):
        plot_summary(model, X, dt=DT, shape=(4, 4))


def test_without_dt_or_data_the_panels_say_what_they_need():
    model = kk.EDMD(dictionary=Polynomial(2)).fit(SlowManifold().trajectories(5, 30, DT))
    fig = plot_summary(model)
    ax_sv, ax_disc, ax_cont = _panels(fig)[0]
    assert "pass the training data" in ax_sv.texts[0].get_text()
    assert "pass dt" in ax_cont.texts[0].get_text()
    assert _contains(_drawn_points(ax_disc), np.asarray(model.eigenvalues_))
    assert _panels(fig)[2][0].get_xlabel() == "step"


def test_a_spectrum_record_and_torch_models_are_accepted():
    torch = pytest.importorskip("torch")
    X = _oscillator_data()
    model = kk.DMD(rank=3).fit(torch.as_tensor(X))
    fig = plot_summary(model, torch.as_tensor(X))
    assert _contains(_drawn_points(_panels(fig)[0][1]), model.eigenvalues_.numpy())
    spec = Spectrum(np.array([0.9, 0.5 + 0.5j, 0.5 - 0.5j]), dt=0.5)
    fig = plot_summary(spec, n_modes=2)
    assert _contains(_drawn_points(_panels(fig)[0][2]), [np.log(0.9) / 0.5])
    assert "no modes" in _panels(fig)[1][0].texts[0].get_text()


def test_bad_input_gets_clear_errors():
    X = _oscillator_data()
    model = kk.DMD(rank=3).fit(X)
    with pytest.raises(ValueError, match="n_modes must be a positive integer"):
        plot_summary(model, n_modes=0)
    with pytest.raises(ValueError, match="dt must be a positive finite number"):
        plot_summary(model, dt=-1.0)
    with pytest.raises(ValueError, match="n_steps must be a positive integer"):
        plot_summary(model, n_steps=0)
    with pytest.raises(ValueError, match="spectrum"):
        plot_summary(np.eye(3))
    with pytest.raises(kk.NotFittedError):
        plot_summary(kk.DMD())
    with pytest.raises(ValueError, match="NaN or Inf"):
        plot_summary(model, np.full((5, 3), np.nan))


def test_example13_recovers_the_field_and_slow_manifold_and_saves_both_summaries(tmp_path):
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[2] / "examples" / "13_summary_plot.py"
    spec = importlib.util.spec_from_file_location("koopkit_example_13", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(["--out", str(tmp_path)])
    assert results["field"]["eigenvalue_error"] < 0.02
    assert min(results["field"]["pattern_cosines"]) > 0.99
    assert max(results["slow_manifold"]["nearest_errors"]) < 1e-10
    for name in ("summary_field.png", "summary_slow_manifold.png"):
        assert (tmp_path / name).stat().st_size > 20_000
