"""Numbers quoted in the README and the guide come from the results files that scripts wrote.

A rerun that changes a results file without updating the text (or the reverse) fails here.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "guide" / "results"


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text())


def _row(text: str, label: str) -> list[str]:
    """Cells of the Markdown table row that starts with ``label``."""
    match = re.search(rf"^\| {re.escape(label)} \|(.*)\|\s*$", text, flags=re.M)
    assert match, f"no table row {label!r}"
    return [cell.strip() for cell in match.group(1).split("|")]


def test_readme_quickstart_table_is_the_quickstart_metrics_file():
    metrics = _load("quickstart_metrics.json")
    readme = (ROOT / "README.md").read_text()
    teacher = _row(readme, "teacher")
    assert teacher[0] == str(metrics["teacher"]["nfe"])
    assert teacher[1] == f"{metrics['teacher']['sw_vs_true']:.4f}"
    for label, key in (("KDM", "kdm"), ("KD baseline", "kd")):
        m = metrics[key]
        expected = [
            "1",
            f"{m['sw_vs_true']:.4f}",
            f"{m['sw_vs_teacher']:.4f}",
            f"{m['sw_same_noise']:.4f}",
            f"{m['rmse_same_noise']:.4f}",
        ]
        assert _row(readme, label) == expected, label
    floor = f"{metrics['floor_sw_measured']:.4f} ± {metrics['floor_sw_measured_std']:.4f}"
    assert floor in readme
    assert f"{metrics['teacher']['sw_vs_true_over_floor']:.1f}× that floor" in readme


def test_quickstart_results_file_is_of_the_default_sizes():
    """The README quotes ``koopkit-diffusion quickstart`` with its default sizes."""
    from koopkit_diffusion.runs.quickstart import QuickstartConfig

    metrics = _load("quickstart_metrics.json")
    default = json.loads(json.dumps(dataclasses.asdict(QuickstartConfig())))
    recorded = metrics["quickstart_config"]
    assert {k: v for k, v in recorded.items() if k != "progress"} == {
        k: v for k, v in default.items() if k != "progress"
    }


# Results files written by a command that the guide shows beside the numbers (the run's own
# report, copied here), rather than by a benchmark that records its command line.
_SHOWN_IN_GUIDE = {"quickstart_kdm_evaluation.json", "quickstart_kdm_analysis.json"}


@pytest.mark.parametrize("name", sorted(p.name for p in RESULTS.glob("*.json")))
def test_every_results_file_names_the_command_that_wrote_it(name):
    data = _load(name)
    if name in _SHOWN_IN_GUIDE:
        pages = "".join(p.read_text() for p in (ROOT / "docs").rglob("*.md"))
        assert name in pages and "koopkit-diffusion" in pages
        return
    assert "command" in data or "quickstart_config" in data, (
        f"{name}: a results file records the command that wrote it"
    )


def test_cifar_page_throughput_table_is_the_benchmark_file():
    bench = _load("bench_images_cpu.json")
    page = (ROOT / "docs" / "guide" / "11-cifar10.md").read_text()
    t, p = bench["training_step"], bench["pair_generation"]
    step = _row(page, "training step of `teacher-cifar10-uncond` (images/s)")
    assert step[:3] == [
        f"{t['koopkit_images_per_s']:.2f}",
        f"{t['edm_images_per_s']:.2f}",
        f"{t['ratio_koopkit_over_edm']:.2f}×",
    ]
    pairs = _row(page, "pair generation, 18 Heun steps, 35 NFE (pairs/s)")
    assert pairs[:3] == [
        f"{p['koopkit_pairs_per_s']:.3f}",
        f"{p['edm_pairs_per_s']:.3f}",
        f"{p['ratio_koopkit_over_edm']:.2f}×",
    ]


def test_quickstart_page_sampler_table_is_the_benchmark_file():
    bench = _load("bench_teacher_sampler.json")
    page = (ROOT / "docs" / "quickstart.md").read_text()
    for row in bench["rows"]:
        cells = _row(page, str(row["n_steps"]))
        assert cells == [
            str(row["nfe"]),
            f"{row['teacher_sw']:.4f} ({row['teacher_over_floor']:.2f}×)",
            f"{row['exact_sw']:.4f} ({row['exact_over_floor']:.2f}×)",
        ]


def test_evaluation_guide_checkerboard_numbers_are_the_results_files():
    ev = _load("quickstart_kdm_evaluation.json")
    an = _load("quickstart_kdm_analysis.json")
    page = (ROOT / "docs" / "guide" / "10-evaluation.md").read_text()
    section = page[page.index("## Measured on the checkerboard") :]
    quoted = [
        f"{ev['model']['sw_true']:.4f} for KDM",
        f"{ev['teacher']['sw_true']:.4f} for\nthe teacher ({ev['teacher']['nfe']} NFE",
        f"{ev['model']['sw_teacher']:.4f} between KDM and the teacher",
        f"{ev['sw_floor']:.4f} ± {ev['sw_floor_std']:.4f}",
        f"{100 * an['noise_partition_agreement']:.1f} %",
        f"{an['latent_semantic']['knn_agreement_latent']:.3f} in the latent against "
        f"{an['latent_semantic']['knn_agreement_noise']:.3f}",
        f"{an['latent_semantic']['spearman_latent']:.3f} against "
        f"{an['latent_semantic']['spearman_noise']:.3f}",
        f"against {an['representability']['residual_state'][0][1]:.3f} for the raw",
    ]
    for text in quoted:
        assert text in section, text
    quick = _load("quickstart_metrics.json")
    assert f"{quick['floor_sw_measured']:.4f} ± {quick['floor_sw_measured_std']:.4f}" in section


def test_kdm_guide_speed_numbers_are_the_benchmark_files():
    flops, step, sample = (_load(f"kdm_{n}.json") for n in ("flops", "step", "sample"))
    page = (ROOT / "docs" / "guide" / "08-kdm.md").read_text()
    native = _row(page, "32×32, average pooling (`cifar10-uncond`, the authors')")
    assert native == [
        f"{flops['native']['tflop_per_step']:.2f}",
        f"{flops['native']['lpips_tflop_per_step']:.2f}",
        f"{flops['native']['cpu_s_per_step']:.2f}",
    ]
    wide = _row(page, "224×224, max pooling (`cifar10-uncond+lpips224`)")
    assert wide[0] == f"{flops['224']['tflop_per_step']:.2f}"
    assert f"costs {step['koopkit_cpu_ms']:.0f} ms" in page
    assert f"({step['plain_cpu_ms']:.0f} ms)" in page
    assert (
        f"{sample['kdm_ms'] / 1000:.2f} s" in page and f"{sample['speed_up']:.0f}× faster" in page
    )


def test_quoted_quickstart_runtime_is_the_recorded_one():
    seconds = f"{_load('quickstart_metrics.json')['total_s']:.0f} s on two"
    assert seconds in (ROOT / "README.md").read_text()
    assert seconds in (ROOT / "docs" / "quickstart.md").read_text()


def test_kdm_guide_verdict_tables_are_the_remeasured_files():
    page = (ROOT / "docs" / "guide" / "08-kdm.md").read_text()
    authors = _load("authors-2k.json")["summary"]
    for label, key in (("KD baseline", "kd"), ("KDM", "kdm")):
        s = authors[key]
        cells = _row(page, label)
        assert cells[:2] == [
            f"{s['raw/sw_same_noise'][0]:.4f} ± {s['raw/sw_same_noise'][1]:.4f}",
            f"{s['raw/rmse_same_noise'][0]:.4f} ± {s['raw/rmse_same_noise'][1]:.4f}",
        ], label
    digits = _load("digits_kdm_vs_kd.json")["summary"]
    text = page[page.index("**Digits, over three seeds.**") :]
    for key in ("kd", "kdm"):
        s = digits[key]
        assert f"{s['classifier_fid'][0]:.2f} ± {s['classifier_fid'][1]:.2f}" in text
        assert f"{s['mse_vs_teacher'][0]:.4f} ± {s['mse_vs_teacher'][1]:.4f}" in text


def test_readme_kdm_vs_kd_claims_are_the_remeasured_files():
    readme = (ROOT / "README.md").read_text()
    a = _load("authors-2k.json")["summary"]
    for key in ("kdm", "kd"):
        sw = a[key]["raw/sw_same_noise"]
        assert f"{sw[0]:.4f} ± {sw[1]:.4f}" in readme
    d = _load("digits_kdm_vs_kd.json")["summary"]
    for key in ("kd", "kdm"):
        fid, mse = d[key]["classifier_fid"], d[key]["mse_vs_teacher"]
        assert f"{fid[0]:.2f} ± {fid[1]:.2f}" in readme
        assert f"{mse[0]:.4f} ± {mse[1]:.4f}" in readme


def test_kdm_guide_variant_effects_are_the_ablation_file():
    ablation = _load("fast_ablations.json")
    summary, effects = ablation["summary"], ablation["minus_base_of_same_kind"]
    page = (ROOT / "docs" / "guide" / "08-kdm.md").read_text()

    def pm(pair):
        return f"{pair[0]:.4f} ± {pair[1]:.4f}"

    for label, effect in effects.items():
        kind = label.split()[0]
        s = summary[label]
        per_seed = effect["ema/sw_same_noise/per_seed"]
        spread = 2 * summary[kind]["ema/sw_same_noise"][1]  # the rule the page states
        if all(d > spread for d in per_seed):
            word = "worse"
        elif all(d < -spread for d in per_seed):
            word = "better"
        else:
            word = "within the spread"
        cell = (
            f"{kind.upper()} {pm(s['ema/sw_same_noise'])} / {pm(s['ema/rmse_same_noise'])} "
            f"({effect['ema/sw_same_noise'][0]:+.4f}): {word}"
        )
        assert cell in page, label
        assert s["seeds"] == [0, 1, 2], label
    for kind in ("kd", "kdm"):
        s = summary[kind]
        base = f"{pm(s['ema/sw_same_noise'])} / {pm(s['ema/rmse_same_noise'])} ({kind.upper()})"
        assert base in page
    # the quickstart variant's section: the per-seed KDM − KD differences and its table rows
    kd = {r["seed"]: r for r in ablation["rows"] if r["config"] == "kd"}
    authors_loss = "kdm model.sigma_z=0.4 model.w_rec=1 model.w_push=0"
    for label in ("kdm", authors_loss):
        d = [
            r["ema/sw_same_noise"] - kd[r["seed"]]["ema/sw_same_noise"]
            for r in ablation["rows"]
            if r["config"] == label
        ]
        assert ", ".join(f"{x:+.4f}".replace("-", "−") for x in d) in page, label
        if label == "kdm":  # the tie, as README and the guide's verdict quote it
            tie = f"{np.mean(d):+.4f} ± {np.std(d):.4f}".replace("-", "−")
            assert tie in page and tie in (ROOT / "README.md").read_text()
        s = summary[label]
        row = " | ".join(pm(s[f"ema/{k}"]) for k in ("sw_same_noise", "rmse_same_noise"))
        assert row in page, label


def _merge_module():
    import importlib.util

    path = ROOT / "benchmarks" / "merge_kdm_vs_kd.py"
    spec = importlib.util.spec_from_file_location("merge_kdm_vs_kd", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_merged_ablation_effects_are_per_seed_differences_from_the_same_kind():
    merge = _merge_module().merge

    def row(config, seed, sw):
        return {"config": config, "seed": seed, "ema/sw_same_noise": sw, "train_cpu_s": 1.0}

    head = {"preset": "p", "steps": 10, "batch_size": 4, "n_large": 100}
    part0 = {**head, "rows": [row("kd", 0, 1.0), row("kdm", 0, 2.0), row("kdm x=1", 0, 2.5)]}
    part1 = {**head, "rows": [row("kd", 1, 3.0), row("kdm", 1, 1.0), row("kdm x=1", 1, 2.0)]}
    merged = merge([part0, part1])
    assert merged["summary"]["kdm"]["ema/sw_same_noise"] == [1.5, 0.5]
    effect = merged["minus_base_of_same_kind"]["kdm x=1"]
    assert effect["ema/sw_same_noise/per_seed"] == [0.5, 1.0]  # against kdm, not kd
    assert effect["ema/sw_same_noise"] == [0.75, 0.25]
    with pytest.raises(ValueError, match="'kd' seed 0 appears twice"):
        merge([part0, part0])
    with pytest.raises(ValueError, match="differ in 'steps'"):
        merge([part0, {**part1, "steps": 11}])


def test_kdm_guide_authors_6k_numbers_are_the_results_file():
    rows = {r["config"]: r for r in _load("authors-6k.json")["rows"]}
    page = (ROOT / "docs" / "guide" / "08-kdm.md").read_text()
    kd, kdm = rows["kd"], rows["kdm"]
    assert kd["steps"] == kdm["steps"] == 6000 and kd["seed"] == kdm["seed"] == 0
    sw = f"KDM {kdm['raw/sw_same_noise']:.4f} against KD {kd['raw/sw_same_noise']:.4f} in SW1"
    rmse = f"RMSE {kdm['raw/rmse_same_noise']:.4f} against {kd['raw/rmse_same_noise']:.4f}"
    assert sw in page.replace("\n", " ") and rmse in page.replace("\n", " ")


def test_kdm_guide_example04_numbers_are_the_results_files():
    page = (ROOT / "docs" / "guide" / "08-kdm.md").read_text()
    runs = [_load(f"example04_best_seed{seed}.json") for seed in (0, 1)]
    r0 = runs[0]
    for kind, name in (("kdm", "KDM"), ("kd", "KD baseline")):
        r = r0[kind]
        row = (
            f"| {name} | 1 | {r['sample_s']:.2f} s | {r['sw_vs_teacher']:.4f} "
            f"({r0['board_scale'] * r['sw_vs_teacher']:.4f}) | {r['sw_same_noise']:.5f} | "
            f"{r['rmse_same_noise']:.4f} | {r['sw_vs_true']:.4f} | {r['train_minutes']:.1f} min |"
        )
        assert row in page, kind
        per_seed = " / ".join(f"{run[kind]['sw_same_noise']:.5f}" for run in runs)
        assert per_seed in page, kind
    assert f"floor of the independent score is {r0['floor_sw']:.4f}" in page
    d = [run["kdm"]["sw_same_noise"] - run["kd"]["sw_same_noise"] for run in runs]
    assert " / ".join(f"{x:+.5f}".replace("-", "−") for x in d) in page
    agreement = r0["analysis"]["latent_semantic"]
    assert f"{agreement['knn_agreement_latent']:.3f} in the" in page
