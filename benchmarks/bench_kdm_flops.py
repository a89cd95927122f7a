"""FLOPs and CPU time of one ``cifar10-uncond`` training step: LPIPS native vs at 224×224.

The authors compute LPIPS with piq at the images' own 32×32 resolution, with average pooling
(``cifar10-uncond``); the variant ``cifar10-uncond+lpips224`` resizes to 224×224 first (max
pooling, the original LPIPS trunk). For each, this script counts the FLOPs of one full
:meth:`Trainer.train_step` (discriminator step, generator forward and backward; matmuls,
convolutions and attention, as :class:`torch.utils.flop_counter.FlopCounterMode` counts them)
at two small batch sizes and extrapolates linearly to the preset's batch of 128 (the count is
affine in the batch), and the share of LPIPS in it (the same step with ``model.loss=mse``
subtracted). Then it times ``--steps`` train steps per mode on the CPU at ``--batch``,
alternating the modes so that load from other processes falls on both, and prints wall and
process CPU time per step and their ratio. LPIPS weights are random, in the real file format
(cost, not quality). Writes ``--out`` (JSON, with the command).

    python benchmarks/bench_kdm_flops.py                       # batch 4, 5 timed steps per mode
    python benchmarks/bench_kdm_flops.py --batch 2 --steps 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from koopkit.io import recorded_command

MODES = {"native": "cifar10-uncond", "224": "cifar10-uncond+lpips224"}


def _trainer(preset: str, overrides: dict, lpips_dir: Path, batch: int, run_dir: Path):
    from koopkit_diffusion.runs.presets import get_preset
    from koopkit_diffusion.students import KDM
    from koopkit_diffusion.trainer import TensorDictDataset, Trainer

    spec = get_preset(
        preset,
        {"model.lpips_weights": str(lpips_dir), "train.batch_size": str(batch),
         "train.device": "cpu", "train.progress": "false", "train.loss_figure": "false",
         **overrides},
    )  # fmt: skip
    torch.manual_seed(0)
    model = KDM(spec.model)
    g = torch.Generator().manual_seed(1)
    data = TensorDictDataset(
        noise=torch.randn(batch, 3, 32, 32, generator=g),
        sample=torch.rand(batch, 3, 32, 32, generator=g) * 2 - 1,
    )
    return Trainer(model, data, spec.train, run_dir), data[list(range(batch))]


def _step_flops(preset: str, overrides: dict, lpips_dir: Path, batch: int, tmp: Path) -> int:
    trainer, batch_data = _trainer(preset, overrides, lpips_dir, batch, tmp / f"f{batch}")
    trainer.train_step(batch_data)  # first step outside the count (lazy state)
    with FlopCounterMode(display=False) as counter:
        trainer.train_step(batch_data)
    return counter.get_total_flops()


def _per_step(preset: str, overrides: dict, lpips_dir: Path, tmp: Path, b1: int, b2: int):
    f1 = _step_flops(preset, overrides, lpips_dir, b1, tmp)
    f2 = _step_flops(preset, overrides, lpips_dir, b2, tmp)
    per_sample = (f2 - f1) / (b2 - b1)
    return per_sample, f1 - per_sample * b1  # affine in the batch: fixed part + per sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4, help="batch of the timed CPU steps")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per mode")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="runs/bench_kdm_flops.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from koopkit_diffusion.runs.presets import get_preset
    from koopkit_diffusion.students.lpips import write_random_weights

    full_batch = get_preset(MODES["native"]).train.batch_size
    report: dict = {"command": recorded_command(), "batch": full_batch}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        lpips_dir = write_random_weights(tmp / "lpips")
        per_sample, fixed = _per_step(MODES["native"], {"model.loss": "mse"}, lpips_dir, tmp, 1, 2)
        report["without_lpips"] = {"tflop_per_step": (fixed + per_sample * full_batch) / 1e12}
        for mode, preset in MODES.items():
            per_sample, fixed = _per_step(preset, {}, lpips_dir, tmp, 1, 2)
            total = fixed + per_sample * full_batch
            report[mode] = {
                "preset": preset,
                "tflop_per_step": total / 1e12,
                "gflop_per_sample": per_sample / 1e9,
                "lpips_tflop_per_step": total / 1e12 - report["without_lpips"]["tflop_per_step"],
            }
        trainers = {m: _trainer(p, {}, lpips_dir, args.batch, tmp / m) for m, p in MODES.items()}
        times: dict[str, list[tuple[float, float]]] = {m: [] for m in MODES}
        for _ in range(args.steps + 1):  # alternate the modes; the first round warms up
            for mode, (trainer, batch_data) in trainers.items():
                t0, c0 = time.perf_counter(), time.process_time()
                trainer.train_step(batch_data)
                times[mode].append((time.perf_counter() - t0, time.process_time() - c0))
    for mode in MODES:
        wall = [w for w, _ in times[mode][1:]]
        cpu = [c for _, c in times[mode][1:]]
        report[mode] |= {
            "cpu_batch": args.batch,
            "wall_s_per_step": sum(wall) / len(wall),
            "cpu_s_per_step": sum(cpu) / len(cpu),
        }
    native, wide = report["native"], report["224"]
    report["ratio_224_over_native"] = {
        "flops": wide["tflop_per_step"] / native["tflop_per_step"],
        "lpips_flops": wide["lpips_tflop_per_step"] / native["lpips_tflop_per_step"],
        "cpu_s": wide["cpu_s_per_step"] / native["cpu_s_per_step"],
        "wall_s": wide["wall_s_per_step"] / native["wall_s_per_step"],
    }
    print(f"cifar10-uncond training step at batch {full_batch} (FLOPs: matmuls, convolutions, "
          "attention; forward and backward; both players)")  # fmt: skip
    print(f"{'LPIPS':8s}{'TFLOP/step':>12s}{'of which LPIPS':>16s}"
          f"{f'CPU s/step @{args.batch}':>18s}{'wall s/step':>13s}")  # fmt: skip
    for mode in MODES:
        r = report[mode]
        print(f"{mode:8s}{r['tflop_per_step']:12.3f}{r['lpips_tflop_per_step']:16.3f}"
              f"{r['cpu_s_per_step']:18.2f}{r['wall_s_per_step']:13.2f}")  # fmt: skip
    print(f"without LPIPS: {report['without_lpips']['tflop_per_step']:.3f} TFLOP/step")
    ratio = report["ratio_224_over_native"]
    print(f"224 / native: FLOPs {ratio['flops']:.2f}×, LPIPS FLOPs {ratio['lpips_flops']:.1f}×, "
          f"CPU time {ratio['cpu_s']:.2f}×, wall {ratio['wall_s']:.2f}×")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
