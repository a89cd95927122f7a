"""Benchmark: koopkit.analysis.plot_summary against PyDMD's plot_summary on the same model.

Data: the 24 × 32 field of ``examples/13_summary_plot.py`` (three travelling patterns with known
continuous-time eigenvalues, noise 0.02), 241 snapshots, DMD of rank 6 in both libraries
(PyDMD ``DMD(svd_rank=6, exact=True).fit(X.T)``, koopkit ``DMD(rank=6).fit(X)``). Each library
draws its summary (singular values, discrete and continuous eigenvalues, three modes as
24 × 32 images, their dynamics) at the same size (12 × 8 inches) and resolution (100 dpi) and
renders it to PNG in memory; the time is the median over ``--repeats`` of drawing plus rendering
(the fits are outside the clock; BLAS single-threaded by default, ``--threads``, since on shared
cores several BLAS threads make the SVDs of both libraries many times slower). Printed: both
times and ``t(PyDMD) / t(koopkit)``, and the largest distance between the eigenvalues each figure
shows (read back from the drawn points) and between them and the true ones.

Writes ``benchmarks/results/bench_plot_summary.json`` (``--out``) with the command that ran.

Run:  python benchmarks/bench_plot_summary.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import io
import json
import pathlib
import shlex
import statistics
import sys
import time
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from tqdm import tqdm  # noqa: E402

import koopkit as kk  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
FIGSIZE, DPI = (12.0, 8.0), 100


def load_example():
    path = ROOT / "examples" / "13_summary_plot.py"
    spec = importlib.util.spec_from_file_location("koopkit_example_13", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def drawn_points(ax, kind: str) -> np.ndarray:
    """Single points drawn on ``ax`` (PyDMD: one Line2D per eigenvalue; koopkit: scatters)."""
    if kind == "pydmd":
        xy = [line.get_xydata() for line in ax.lines if line.get_marker() == "o"]
    else:
        xy = [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    xy = np.concatenate(xy)
    return np.unique((xy[:, 0] + 1j * xy[:, 1]).round(12))


def set_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Largest distance from a point of either set to the nearest point of the other."""
    d = np.abs(a[:, None] - b[None, :])
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def render(fig) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (both libraries)")
    parser.add_argument(
        "--out", type=pathlib.Path, default=ROOT / "benchmarks/results/bench_plot_summary.json"
    )
    args = parser.parse_args(argv)
    example = load_example()
    X, _ = example.field()
    dt, shape = example.DT, example.SHAPE
    truth = np.concatenate([example.RATES, example.RATES.conj()])
    try:
        import pydmd
        from pydmd.plotter import plot_summary as pydmd_summary
    except ImportError as error:  # pydmd is in the dev extra; say so rather than fail
        print(f"PyDMD is not installed ({error}); pip install pydmd to compare")
        return {}

    pd_model = pydmd.DMD(svd_rank=6, exact=True).fit(X.T)
    kk_model = kk.DMD(rank=6).fit(X)

    def draw_pydmd():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # plt.show() on the Agg backend
            pydmd_summary(pd_model, t=dt, snapshots_shape=shape, figsize=FIGSIZE, dpi=DPI)
        return plt.gcf()

    def draw_koopkit():
        return kk.analysis.plot_summary(kk_model, X, dt=dt, shape=shape, figsize=FIGSIZE)

    times = {"pydmd": [], "koopkit": []}
    with threadpool_limits(args.threads):
        for _ in tqdm(range(args.repeats), desc="repeats", leave=False):
            for name, draw in (("pydmd", draw_pydmd), ("koopkit", draw_koopkit)):
                start = time.perf_counter()
                render(draw())
                times[name].append(time.perf_counter() - start)
    t_pd, t_kk = statistics.median(times["pydmd"]), statistics.median(times["koopkit"])

    fig = draw_pydmd()
    pd_axes = {ax.get_title(): ax for ax in fig.axes}
    pd_disc = drawn_points(pd_axes["Discrete-time Eigenvalues"], "pydmd")
    pd_cont = drawn_points(pd_axes["Continuous-time Eigenvalues"], "pydmd")  # (Re, Im) of omega
    plt.close(fig)
    fig = draw_koopkit()
    kk_top = fig.subfigs[0].axes
    kk_disc = drawn_points(kk_top[1], "koopkit")
    cont = drawn_points(kk_top[2], "koopkit")  # (Re, Im / 2 pi) of omega
    kk_cont = cont.real + 2j * np.pi * cont.imag
    plt.close(fig)

    record = {
        "command": "python benchmarks/bench_plot_summary.py"
        + ("" if argv is None else " " + shlex.join(argv)),
        "pydmd_version": importlib.metadata.version("pydmd"),
        "data": "24x32 field of examples/13_summary_plot.py, 241 snapshots, DMD rank 6",
        "figure": {"figsize_in": list(FIGSIZE), "dpi": DPI},
        "repeats": args.repeats,
        "blas_threads": args.threads,
        "pydmd_s": t_pd,
        "koopkit_s": t_kk,
        "ratio_pydmd_over_koopkit": t_pd / t_kk,
        "discrete_eigenvalue_gap_between_figures": set_gap(pd_disc, kk_disc),
        "continuous_eigenvalue_gap_between_figures": set_gap(pd_cont, kk_cont),
        "continuous_error_vs_truth_pydmd": set_gap(pd_cont, truth),
        "continuous_error_vs_truth_koopkit": set_gap(kk_cont, truth),
    }
    print(
        f"plot_summary, 24x32 field, DMD rank 6, {FIGSIZE[0]:g}x{FIGSIZE[1]:g} in at {DPI} dpi, "
        f"median of {args.repeats}"
    )
    print(f"  PyDMD   {t_pd:.3f} s   koopkit {t_kk:.3f} s   ratio {t_pd / t_kk:.2f}x")
    print(
        "  eigenvalues drawn by the two figures differ by at most "
        f"{record['discrete_eigenvalue_gap_between_figures']:.1e} (discrete), "
        f"{record['continuous_eigenvalue_gap_between_figures']:.1e} (continuous)"
    )
    print(
        "  continuous eigenvalues vs the truth: PyDMD "
        f"{record['continuous_error_vs_truth_pydmd']:.2e}, koopkit "
        f"{record['continuous_error_vs_truth_koopkit']:.2e}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return record


if __name__ == "__main__":
    main(sys.argv[1:] or None)
