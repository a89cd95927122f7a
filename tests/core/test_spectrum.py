"""Spectrum record: ordering keeps conjugate pairs together; continuous-time conversions."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from koopkit.spectrum import Spectrum, sort_eigenvalues

moduli = st.floats(min_value=0.05, max_value=2.0)
phases = st.floats(min_value=0.01, max_value=3.1)


@given(st.lists(st.tuples(moduli, phases), min_size=1, max_size=6), st.randoms())
def test_sorting_keeps_conjugate_pairs_adjacent(pairs, rnd):
    ev = []
    for r, phi in pairs:
        z = r * np.exp(1j * phi)
        ev += [z, np.conj(z)]
    rnd.shuffle(ev)
    out = np.asarray(ev)[sort_eigenvalues(ev)]
    mods = np.abs(out)
    assert np.all(np.diff(np.round(mods / mods.max(), 12)) <= 0)
    for k in range(0, len(out), 2):
        assert out[k].imag >= 0
        assert np.isclose(out[k], np.conj(out[k + 1]), rtol=1e-12, atol=1e-14)


def test_continuous_quantities_from_known_rates():
    dt = 0.1
    omega = np.array([-0.5 + 2j * np.pi * 3.0, -0.5 - 2j * np.pi * 3.0, -2.0])
    spec = Spectrum(np.exp(omega * dt), dt=dt)
    np.testing.assert_allclose(spec.continuous_eigenvalues, omega)
    np.testing.assert_allclose(spec.frequencies, [3.0, -3.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(spec.growth_rates, [-0.5, -0.5, -2.0])
    np.testing.assert_allclose(spec.periods[:2], [1 / 3, 1 / 3])


def test_sorted_permutes_modes_and_amplitudes_consistently():
    ev = np.array([0.5, 0.9j, -0.9j, 1.0])
    modes = np.arange(8.0).reshape(2, 4)
    spec = Spectrum(ev, modes=modes, amplitudes=np.arange(4.0)).sorted()
    np.testing.assert_allclose(spec.eigenvalues, [1.0, 0.9j, -0.9j, 0.5])
    np.testing.assert_allclose(spec.amplitudes, [3, 1, 2, 0])
    np.testing.assert_allclose(spec.modes[:, 0], modes[:, 3])


def test_spectrum_validates_shapes_and_dt():
    with pytest.raises(ValueError, match="pass dt"):
        _ = Spectrum(np.array([0.9])).frequencies
    with pytest.raises(ValueError, match="modes must have shape"):
        Spectrum(np.array([0.9, 0.8]), modes=np.ones((3, 3)))
    with pytest.raises(ValueError, match="amplitudes must have shape"):
        Spectrum(np.array([0.9]), amplitudes=np.ones(2))
    with pytest.raises(ValueError, match="dt must be"):
        Spectrum(np.array([0.9]), dt=-1.0)
    assert len(Spectrum(np.array([0.9]), dt=1.0).with_dt(0.5)) == 1


def test_plot_eigenvalues_draws_points_and_unit_circle():
    import matplotlib.pyplot as plt

    from koopkit.analysis import plot_eigenvalues

    ev = np.array([0.9 * np.exp(0.4j), 0.9 * np.exp(-0.4j), 0.5])
    ax = plot_eigenvalues(Spectrum(ev))
    np.testing.assert_allclose(ax.collections[0].get_offsets(), np.c_[ev.real, ev.imag])
    circle = ax.lines[0].get_xydata()
    np.testing.assert_allclose(np.hypot(circle[:, 0], circle[:, 1]), 1.0)
    plt.close(ax.figure)


def test_plot_continuous_spectrum_and_amplitudes_use_dt():
    import matplotlib.pyplot as plt

    from koopkit import DMD
    from koopkit.analysis import plot_amplitudes, plot_continuous_spectrum
    from koopkit.systems import LinearSystem

    X = LinearSystem(np.array([[-0.2, 3.0], [-3.0, -0.2]])).simulate([1.0, 0.0], 40, 0.1)
    dmd = DMD(rank=2).fit(X)
    ax = plot_continuous_spectrum(dmd.spectrum(), dt=0.1)
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], [-0.2, -0.2], atol=1e-8)
    np.testing.assert_allclose(
        np.abs(ax.collections[0].get_offsets()[:, 1]), 3.0 / (2 * np.pi), rtol=1e-8
    )
    ax2 = plot_amplitudes(dmd, dt=0.1)
    heights = ax2.containers[0].markerline.get_ydata()
    expected = np.abs(dmd.amplitudes_) * np.linalg.norm(dmd.modes_, axis=0)
    np.testing.assert_allclose(heights, expected)
    with pytest.raises(ValueError, match="needs a Spectrum with amplitudes"):
        plot_amplitudes(np.array([0.5, 0.2]))
    with pytest.raises(ValueError, match="pass dt"):
        plot_continuous_spectrum(np.array([0.5]))
    plt.close("all")


@pytest.mark.parametrize(
    "plot", ["plot_eigenvalues", "plot_continuous_spectrum", "plot_amplitudes"]
)
def test_saved_plots_keep_their_axis_labels_inside_the_image(plot, tmp_path):
    import matplotlib.pyplot as plt

    from koopkit.analysis import plotting

    ev = np.array([0.9 * np.exp(0.4j), 0.9 * np.exp(-0.4j), 0.5])
    spec = Spectrum(ev, modes=np.eye(3, dtype=complex), amplitudes=np.ones(3), dt=0.1)
    ax = getattr(plotting, plot)(spec)
    fig = ax.figure
    path = tmp_path / f"{plot}.png"
    fig.savefig(path)  # default savefig: no bbox_inches="tight" to rescue a cropped label
    assert path.stat().st_size > 0
    renderer = fig.canvas.get_renderer()
    image = fig.bbox  # the saved image, in pixels
    for label in [ax.yaxis.label, ax.xaxis.label, ax.title]:
        box = label.get_window_extent(renderer)
        assert image.x0 <= box.x0 and box.x1 <= image.x1, label.get_text()
        assert image.y0 <= box.y0 and box.y1 <= image.y1, label.get_text()
    tight = fig.get_tightbbox(renderer)  # everything drawn, in inches
    width, height = fig.get_size_inches()
    assert tight.x0 >= 0 and tight.y0 >= 0 and tight.x1 <= width and tight.y1 <= height
    plt.close(fig)


def test_sort_keeps_a_conjugate_pair_in_order_across_a_rounding_boundary():
    """A pair whose phases straddle a 12-digit rounding boundary (seen in DMD's output)."""
    from koopkit.spectrum import sort_eigenvalues

    h = float.fromhex
    ev = np.array([
        complex(h("-0x1.e66666666665ep-1"), -h("0x1.0p-55")),
        complex(h("0x1.c27ac4bd2dbffp-1"), h("0x1.02p-54")),
        complex(h("0x1.52d78451f83edp-3"), -h("0x1.7efffce8a2f3fp-5")),  # lower member first
        complex(h("0x1.52d78451f83eep-3"), h("0x1.7efffce8a2f42p-5")),
    ])  # fmt: skip
    order = sort_eigenvalues(ev)
    assert list(order) == [0, 1, 3, 2]  # modulus, then the pair with its positive member first
    assert list(sort_eigenvalues(ev[[0, 1, 3, 2]])) == [0, 1, 2, 3]
