"""The numbers that the guide page on summary plots, gEDMD and VAMPNets quotes are the ones the
benchmark scripts wrote, beside the command that wrote them.

A rerun that changes a results file without updating the text (or the reverse) fails here.
"""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "results"
PAGE = ROOT / "docs" / "guide" / "01d-generators-vampnets.md"


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


@pytest.fixture(scope="module")
def page() -> str:
    return re.sub(r"\s+", " ", PAGE.read_text())  # line breaks do not matter


def _assert_quoted(page: str, *texts: str) -> None:
    for text in texts:
        assert text in page, f"the guide does not quote {text!r}"


@pytest.mark.parametrize(
    "name", ["bench_plot_summary.json", "bench_gedmd.json", "bench_vampnet.json"]
)
def test_each_results_file_records_its_command_and_the_page_shows_it(name, page):
    command = _load(name)["command"]
    assert command == f"python benchmarks/{name.removesuffix('.json')}.py"
    _assert_quoted(page, f"`{command}`")


def test_plot_summary_numbers_are_the_benchmark_file(page):
    r = _load("bench_plot_summary.json")
    _assert_quoted(
        page,
        f"PyDMD takes {r['pydmd_s']:.2f} s and koopkit {r['koopkit_s']:.2f} s",
        f"t(PyDMD) / t(koopkit) of {r['ratio_pydmd_over_koopkit']:.2f}×",
        f"differ by at most {r['discrete_eigenvalue_gap_between_figures']:.1e}",
        f"by the same {r['continuous_error_vs_truth_koopkit']:.1e}",
    )
    assert (
        f"{r['continuous_error_vs_truth_pydmd']:.1e}"
        == f"{r['continuous_error_vs_truth_koopkit']:.1e}"
    )


def test_gedmd_numbers_are_the_benchmark_file(page):
    r = _load("bench_gedmd.json")
    sm, ou = r["slow_manifold"], r["ornstein_uhlenbeck"]
    m, n = sm["methods"], ou["methods"]
    fd, km = m["gEDMD, finite differences (order 4)"], n["gEDMD, Kramers-Moyal from the paths"]
    _assert_quoted(
        page,
        f"misses the exact eigenvalues by {fd['max_error']:.1e}",
        f"and by {m['gEDMD, dX given']['max_error']:.1e} with `dX` given",
        f"pykoopman's EDMD + log misses them by "
        f"{m['pykoopman continuous (EDMD + log / dt)']['max_error']:.1e}",
        f"t(pykoopman) / t(gEDMD) is {sm['ratio_time_pykoopman_over_gedmd']:.2f}×",
        f"from the paths misses them by {km['max_error']:.3f}",
        f"pykoopman's route by {n['pykoopman continuous (EDMD + log / dt)']['max_error']:.3f}",
        f"the error ratio pykoopman / gEDMD is {ou['ratio_error_pykoopman_over_gedmd']:.2f}×",
        f"The time ratio is {ou['ratio_time_pykoopman_over_gedmd']:.2f}×",
        f"gEDMD is exact to {n['gEDMD, drift and sigma given']['max_error']:.1e}",
    )
    assert r["pykoopman"] == "1.2.1"


def test_vampnet_numbers_are_the_benchmark_file(page):
    r = _load("bench_vampnet.json")
    k, d = r["results"]["koopkit"], r["results"]["deeptime"]
    _assert_quoted(
        page,
        f"koopkit fits in {k['fit_s_median']:.2f} s and deeptime in {d['fit_s_median']:.2f} s",
        f"t(deeptime) / t(koopkit) of {r['ratio_time_deeptime_over_koopkit']:.2f}×",
        f"The held-out VAMP-2 is {k['vamp2_held_out_mean']:.4f} for koopkit and "
        f"{d['vamp2_held_out_mean']:.4f} for deeptime",
        f"against {r['vamp2_bound']:.4f} for the exact process",
        f"learned features is {k['slow_eigenvalue_mean']:.4f} against the exact "
        f"{r['exact_slow_eigenvalue']:.4f}",
        f"the error ratio deeptime / koopkit is "
        f"{r['ratio_slow_eigenvalue_error_deeptime_over_koopkit']:.2f}×",
    )
