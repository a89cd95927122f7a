"""Teacher targets: checkerboard SW1 after training, training time, digits sample grid.

Checkerboard: trains the ``checkerboard`` preset (or overrides), samples 50k points with 18 Heun
steps (35 evaluations) and prints the sliced Wasserstein distance SW1 (512 directions, seed 0) to
50k fresh samples of the true distribution, beside the floor of two independent true 50k sets
and the score of the exact checkerboard denoiser under the same 18-step sampler (the peers
measured in the same run: the sampler alone costs about 0.056). Training time is reported as
wall time and as process CPU time (the machine is shared: CPU time / threads estimates a quiet
machine).

Digits: trains the ``teacher-digits`` preset and saves a 10×10 class-by-row grid PNG.

    python benchmarks/bench_teacher.py teacher-checkerboard --out runs/bench-checkerboard
    python benchmarks/bench_teacher.py teacher-digits --out runs/bench-digits
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from koopkit_diffusion import data
from koopkit_diffusion.edm import heun_sample
from koopkit_diffusion.evaluation.metrics import sliced_wasserstein
from koopkit_diffusion.evaluation.plots import plot_samples
from koopkit_diffusion.runs import get_preset, load_teacher, preset_names, train_run
from koopkit_diffusion.teacher import sample_teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset", choices=preset_names("teacher"))
    parser.add_argument("--out", required=True, help="run directory (reused if it exists)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n", type=int, default=50_000, help="samples for SW1")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="SECTION.FIELD=VALUE", help="preset overrides"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    preset = get_preset(args.preset, dict(item.split("=", 1) for item in args.set))
    out = Path(args.out)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = train_run(preset, out, resume="auto")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    steps = preset.train.steps
    print(f"config: {json.dumps(preset.to_dict())}")
    print(
        f"training: {steps} steps, wall {wall:.1f} s ({steps / wall:.2f} steps/s), "
        f"process CPU {cpu:.1f} s on {args.threads} threads -> quiet-machine estimate "
        f"{cpu / args.threads:.1f} s; final loss {result.history[-1]['total']:.4f}"
    )
    teacher = load_teacher(out)
    name = preset.data.name

    if name == "digits":
        samples, labels = sample_teacher(teacher, 100, n_steps=18, seed=0)
        png = plot_samples(samples, out / "samples.png", labels=labels, title="teacher, 35 NFE")
        print(f"grid: {png}")
        return

    t0 = time.perf_counter()
    samples, _ = sample_teacher(teacher, args.n, n_steps=18, seed=12345)
    t_sample = time.perf_counter() - t0
    truth = data.toy_2d(name, args.n, seed=1_000_001)
    truth2 = data.toy_2d(name, args.n, seed=1_000_002)
    sw = sliced_wasserstein(samples, truth, n_directions=512, seed=0)
    floor = sliced_wasserstein(truth2, truth, n_directions=512, seed=0)
    exact = None
    if name == "checkerboard":
        noise = torch.randn(args.n, 2, generator=torch.Generator().manual_seed(12345))
        res = heun_sample(data.checkerboard_denoiser(), noise.double(), n_steps=18)
        exact = sliced_wasserstein(res.samples, truth, n_directions=512, seed=0)
    plot_samples(samples, out / "samples.png", title=f"teacher, 35 NFE, SW1 {sw:.4f}")
    print(f"sampling {args.n} points (18 Heun steps, 35 NFE): {t_sample:.1f} s")
    print(f"SW1(teacher, truth) = {sw:.4f}  (target <= 0.07)")
    print(f"SW1(truth', truth)  = {floor:.4f}  (floor)  ratio teacher/floor = {sw / floor:.2f}")
    if exact is not None:
        print(
            f"SW1(exact denoiser + same 18-step sampler, truth) = {exact:.4f}  "
            f"ratio teacher/exact = {sw / exact:.2f}"
        )


if __name__ == "__main__":
    main()
