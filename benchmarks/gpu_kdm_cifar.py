"""Training throughput of the ``cifar10-uncond`` KDM step on a GPU: fp32 eager vs bf16 (+ compile).

One short prepared script for a GPU machine. It builds the paper-scale preset (three UNets,
LPIPS with randomly initialised weights in the same file format, the authors' discriminator;
``--preset cifar10-uncond+lpips224`` for LPIPS at 224×224), feeds
synthetic pairs that already sit on the device, and times :meth:`Trainer.train_step` — the full
optimizer step: generator forward/backward, NaN guard, Adam, EMA, discriminator step. It prints
images/s per mode, the speed-up over fp32 eager measured in the same run, and the model-FLOPs
utilisation (MFU): FLOPs of one step counted with :class:`torch.utils.flop_counter.FlopCounterMode`
(matmuls, convolutions, attention; forward and backward) times steps/s over the card's bf16
dense peak.

Mode names: ``fp32`` or ``bf16`` (autocast), with ``+compile``, ``+cl`` (channels-last),
``+bench`` / ``+nobench`` (``cudnn_benchmark`` True / False; otherwise the preset's True) and
``+lpips4`` (LPIPS as before the shared-target change) to measure each lever against the others
in one run.

GPU::

    python benchmarks/gpu_kdm_cifar.py                          # fp32, bf16, bf16+compile
    python benchmarks/gpu_kdm_cifar.py --modes fp32+nobench,fp32,bf16,bf16+lpips4 --profile bf16
    python benchmarks/gpu_kdm_cifar.py --modes bf16+compile+cl --steps 50

CPU check that the script runs (tiny model, seconds)::

    python benchmarks/gpu_kdm_cifar.py --smoke
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from koopkit_diffusion.trainer import TensorDictDataset, Trainer, TrainerConfig
from koopkit_diffusion.trainer.data import batch_to_device

# Dense (no sparsity) bf16 tensor-core peaks, SXM parts, from NVIDIA's data sheets.
PEAK_BF16_FLOPS = {"H100": 989.4e12, "H200": 989.4e12}

# Tiny overrides for --smoke (CPU): the same architecture family, about a second per step.
SMOKE_OVERRIDES = {
    "model.model_channels": "8",
    "model.channel_mult": "1,2",
    "model.num_blocks": "1",
    "model.lpips_resize": "none",
    "model.discriminator_channels": "8",
}


def build_model_and_config(preset: str, overrides: dict[str, str], lpips_dir: Path):
    """The one model factory: ``(model, TrainerConfig)`` of a named KDM preset.

    LPIPS weights are pointed at ``lpips_dir`` (random weights in the real file format: the
    benchmark measures speed, not perceptual quality).
    """
    from koopkit_diffusion.runs.presets import get_preset
    from koopkit_diffusion.students import KDM

    spec = get_preset(preset, {**overrides, "model.lpips_weights": str(lpips_dir)})
    return KDM(spec.model), spec.train


def write_random_lpips_weights(folder: Path) -> None:
    """Randomly initialised VGG16 trunk and LPIPS heads in the files LPIPS expects."""
    from koopkit_diffusion.students.lpips import write_random_weights

    write_random_weights(folder)


def parse_mode(mode: str) -> dict:
    """``fp32`` | ``bf16`` with optional tokens ``+compile``, ``+cl`` (channels-last),
    ``+bench`` / ``+nobench`` (cuDNN algorithm search on / off; otherwise the preset's setting,
    on for the image presets) and ``+lpips4`` (the LPIPS passes as before the shared-target
    change: each distance runs the trunk over ``[x; y]`` with gradients)."""
    parts = mode.split("+")
    tokens = {"compile", "cl", "bench", "nobench", "lpips4"}
    if parts[0] not in ("fp32", "bf16") or not set(parts[1:]) <= tokens:
        raise ValueError(f"mode must be fp32|bf16 with optional +{', +'.join(sorted(tokens))}; "
                         f"got {mode!r}")  # fmt: skip
    if {"bench", "nobench"} <= set(parts):
        raise ValueError(f"mode {mode!r} asks for +bench and +nobench at once")
    settings = {
        "amp": "bf16" if parts[0] == "bf16" else "none",
        "compile": "compile" in parts,
        "channels_last": "cl" in parts,
    }
    if "bench" in parts or "nobench" in parts:
        settings["cudnn_benchmark"] = "bench" in parts
    return settings


@contextlib.contextmanager
def separate_lpips_passes(enabled: bool):
    """Within the block, ``ReconstructionLoss.against`` evaluates each distance on its own with
    the target in the graph: the four-forward, four-backward LPIPS cost of the earlier code."""
    from koopkit_diffusion.students.losses import ReconstructionLoss
    from koopkit_diffusion.students.lpips import cached_lpips

    if not enabled:
        yield
        return
    original = ReconstructionLoss.against

    def against(self, xs, y):
        if self.kind != "lpips":
            return original(self, xs, y)
        lpips = cached_lpips(self.lpips_weights, self.lpips_resize, y.device, self.lpips_pooling)
        target = y.detach().requires_grad_(True)
        return [lpips(x, target).mean() for x in xs]

    ReconstructionLoss.against = against
    try:
        yield
    finally:
        ReconstructionLoss.against = original


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_mode(mode: str, args, lpips_dir: Path, batches: list, run_root: Path) -> dict:
    """Time one mode; returns images/s, step time, compile/warm-up time and FLOPs per step."""
    with separate_lpips_passes("lpips4" in mode.split("+")):
        return _run_mode(mode, args, lpips_dir, batches, run_root)


def _run_mode(mode: str, args, lpips_dir: Path, batches: list, run_root: Path) -> dict:
    torch.manual_seed(0)
    model, preset_train = build_model_and_config(args.preset, args.overrides, lpips_dir)
    config = TrainerConfig.from_dict(
        {
            **preset_train.to_dict(),
            **parse_mode(mode),
            "batch_size": args.batch,
            "steps": args.warmup + args.steps + 1,
            "progress": False,
            "tensorboard": False,
            "device": args.device,
        }
    )
    dataset = TensorDictDataset(**{k: v.cpu() for k, v in batches[0].items()})
    trainer = Trainer(model, dataset, config, run_root / mode.replace("+", "_"))
    device = trainer.ctx.device
    dev_batches = [batch_to_device(b, device, config.channels_last) for b in batches]

    t0 = time.perf_counter()
    for i in range(args.warmup):
        trainer.train_step(dev_batches[i % len(dev_batches)])
    _sync(device)
    warmup_s = time.perf_counter() - t0

    flops = None
    if not config.compile:
        with FlopCounterMode(display=False) as counter:
            trainer.train_step(dev_batches[0])
        flops = counter.get_total_flops()

    _sync(device)
    t0 = time.perf_counter()
    for i in range(args.steps):
        trainer.train_step(dev_batches[i % len(dev_batches)])
    _sync(device)
    elapsed = time.perf_counter() - t0
    if mode == args.profile:
        profile_steps(trainer, dev_batches, args.profile_rows)
    result = {
        "mode": mode,
        "device": str(device),
        "images_per_s": args.steps * args.batch / elapsed,
        "step_ms": 1e3 * elapsed / args.steps,
        "warmup_s": warmup_s,
        "flops_per_step": flops,
        "bad_steps": trainer.bad_steps,
        "peak_mem_gib": (
            torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
        ),
    }
    trainer.close()
    del trainer, model, dev_batches
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    return result


def profile_steps(trainer: Trainer, batches: list, rows: int) -> None:
    """Print the operators that take the most device (or CPU) time over two steps."""
    from torch.profiler import ProfilerActivity, profile

    cuda = trainer.ctx.device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for i in range(2):
            trainer.train_step(batches[i % len(batches)])
        _sync(trainer.ctx.device)
    key = "self_cuda_time_total" if cuda else "self_cpu_time_total"
    print(f"profile of two steps, top {rows} operators by {key}:")
    print(prof.key_averages().table(sort_by=key, row_limit=rows, max_name_column_width=60))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="cifar10-uncond")
    parser.add_argument("--modes", default="fp32,bf16,bf16+compile")
    parser.add_argument("--batch", type=int, default=128, help="global batch (paper: 128)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per mode")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps (incl. compile)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--peak-tflops", type=float, default=None, help="bf16 dense peak")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="preset override, e.g. model.num_blocks=2")  # fmt: skip
    parser.add_argument(
        "--profile",
        default=None,
        metavar="MODE",
        help="also profile two steps of this mode (one of --modes)",
    )
    parser.add_argument("--profile-rows", type=int, default=25)
    parser.add_argument("--smoke", action="store_true", help="tiny CPU-sized run")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args(argv)
    args.overrides = dict(item.split("=", 1) for item in args.set)
    if args.smoke:
        args.overrides = {**SMOKE_OVERRIDES, **args.overrides}
        args.batch, args.steps, args.warmup = 2, 1, 1
        if args.modes == parser.get_default("modes"):
            args.modes = "fp32,bf16"

    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    peak = args.peak_tflops * 1e12 if args.peak_tflops else None
    peak = peak or next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)
    print(f"device: {name}; torch {torch.__version__}; preset {args.preset}; batch {args.batch}")
    print(f"fp32 uses TF32: matmul {torch.backends.cuda.matmul.allow_tf32}, "
          f"cuDNN conv {torch.backends.cudnn.allow_tf32}")  # fmt: skip

    g = torch.Generator().manual_seed(0)
    shape = (args.batch, 3, 32, 32)
    batches = [
        {"noise": torch.randn(shape, generator=g), "sample": torch.randn(shape, generator=g).tanh()}
        for _ in range(4)
    ]
    modes = args.modes.split(",")
    for mode in modes:
        parse_mode(mode)  # fail before any work on a bad mode
    if args.profile is not None and args.profile not in modes:
        parser.error(f"--profile {args.profile!r} is not one of --modes {modes}")
    print(f"{'mode':<26}{'img/s':>9}{'ms/step':>9}{'vs ' + modes[0]:>16}{'TFLOP/step':>12}"
          f"{'MFU':>7}{'warm-up s':>10}{'peak GiB':>9}", flush=True)  # fmt: skip
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        lpips_dir = Path(tmp) / "lpips"
        lpips_dir.mkdir()
        write_random_lpips_weights(lpips_dir)
        for mode in modes:
            r = run_mode(mode, args, lpips_dir, batches, Path(tmp) / "runs")
            # A compiled mode's FLOPs are those of its eager twin (same LPIPS passes).
            twin = [q["flops_per_step"] for q in results if q["flops_per_step"]
                    and ("lpips4" in q["mode"]) == ("lpips4" in mode)]  # fmt: skip
            flops = r["flops_per_step"] or (twin[0] if twin else None)
            achieved = flops * r["images_per_s"] / args.batch if flops else None
            r["mfu"] = achieved / peak if (achieved and peak) else None
            r["speedup"] = r["images_per_s"] / (results or [r])[0]["images_per_s"]
            results.append(r)
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "n/a"
            tflop = f"{flops / 1e12:.2f}" if flops else "n/a"
            mem = f"{r['peak_mem_gib']:.1f}" if r["peak_mem_gib"] is not None else "n/a"
            print(f"{mode:<26}{r['images_per_s']:>9.1f}{r['step_ms']:>9.1f}{r['speedup']:>15.2f}x"
                  f"{tflop:>12}{mfu:>7}{r['warmup_s']:>10.1f}{mem:>9}", flush=True)  # fmt: skip
            if args.json:  # rewritten after every mode: a run cut short keeps what it measured
                args.json.write_text(json.dumps({"device": name, "results": results}, indent=2))
    print("FLOPs counted with FlopCounterMode (matmuls, convolutions, attention; fwd + bwd)")
    if peak is None:
        print("MFU: unknown peak for this device (pass --peak-tflops)")
    else:
        print(f"MFU against a bf16 dense peak of {peak / 1e12:.1f} TFLOP/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
