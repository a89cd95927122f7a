"""Parity of :func:`koopkit_diffusion.teacher.import_edm` with NVIDIA's own EDM code.

Builds EDM's ``EDMPrecond(SongUNet)`` (DDPM++, as ``train.py --arch=ddpmpp`` configures it) from a
checkout of the public NVlabs/edm code, gives it random weights (EDM starts the output layers at
~1e-5 and the biases at 0, so every parameter is redrawn), pickles it the way EDM's training loop
writes ``network-snapshot-*.pkl`` (``ema``, ``loss_fn``, ``augment_pipe``, ``dataset_kwargs``),
imports that file, and prints the largest ``|D_edm − D_koopkit|`` of the denoiser outputs over
noise levels, class labels and augmentation labels, in float32. The EDM code is only imported
here, from ``--edm-src``; the project never ships it.

    git -C <edm checkout> archive HEAD | tar -x -C /tmp/edm-src   # or a clone of NVlabs/edm
    python benchmarks/edm_parity.py --edm-src /tmp/edm-src [--config cifar10-cond] [--out p.json]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import pickle
import sys
import tempfile
import time
from pathlib import Path

import torch

from koopkit.io import recorded_command

CONFIGS = {
    # EDM's train.py --arch=ddpmpp: channel_mult 2,2,2, 128 channels; augment_dim 9 (--augment).
    "cifar10-cond": dict(img_resolution=32, label_dim=10, channel_mult=[2, 2, 2], dropout=0.13),
    "cifar10-uncond": dict(img_resolution=32, label_dim=0, channel_mult=[2, 2, 2], dropout=0.13),
    "ffhq64": dict(img_resolution=64, label_dim=0, channel_mult=[1, 2, 2, 2], dropout=0.05),
    "small": dict(img_resolution=16, label_dim=10, channel_mult=[1, 2], dropout=0.1,
                  model_channels=32, num_blocks=1),
}  # fmt: skip


def build_edm_network(config: str, seed: int):
    """EDM's EDMPrecond(SongUNet) with every parameter redrawn (no layer left at ~0)."""
    from training.networks import EDMPrecond

    kwargs = dict(CONFIGS[config])
    net = EDMPrecond(
        img_channels=3,
        model_type="SongUNet",
        embedding_type="positional",
        encoder_type="standard",
        decoder_type="standard",
        channel_mult_noise=1,
        resample_filter=[1, 1],
        model_channels=kwargs.pop("model_channels", 128),
        augment_dim=9,
        **kwargs,
    )
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            fan_in = p[0].numel() if p.ndim > 1 else 1
            std = 0.1 if p.ndim == 1 else 1.0 / math.sqrt(fan_in)
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return net


def snapshot(net, path: Path) -> None:
    """Pickle ``net`` as EDM's training loop writes a network snapshot."""
    from training.augment import AugmentPipe
    from training.loss import EDMLoss

    augment = AugmentPipe(p=0.12, xflip=1e8, yflip=1, scale=1, rotate_frac=1, aniso=1,
                          translate_frac=1)  # fmt: skip
    data = dict(
        ema=copy.deepcopy(net).eval().requires_grad_(False).cpu(),
        loss_fn=EDMLoss(),
        augment_pipe=augment,
        dataset_kwargs=dict(class_name="training.dataset.ImageFolderDataset", path="x.zip"),
    )
    with open(path, "wb") as f:
        pickle.dump(data, f)


@torch.no_grad()
def compare(edm_net, teacher, label_dim: int, batch: int, seed: int) -> tuple[dict, float]:
    """Max |Δ| of the two denoisers per case (σ, labels, augmentation labels), and the largest
    network term ``|D − c_skip·x|`` (what the comparison is sensitive to)."""
    gen = torch.Generator().manual_seed(seed)
    res = edm_net.img_resolution
    results, network_term = {}, 0.0
    for sigma in (0.002, 0.02, 0.2, 1.0, 5.0, 20.0, 80.0):
        y = torch.rand(batch, 3, res, res, generator=gen) * 2 - 1
        x = y + sigma * torch.randn(batch, 3, res, res, generator=gen)
        s = torch.full((batch,), sigma)
        cases = {"no labels": (None, None)}
        if label_dim:
            classes = torch.randint(label_dim, (batch,), generator=gen)
            cases = {"classes": (classes, None)}
        aug = torch.randn(batch, 9, generator=gen) * 0.5
        cases["augment labels"] = (cases[next(iter(cases))][0], aug)
        for case, (labels, augment) in cases.items():
            one_hot = (
                None if labels is None else torch.nn.functional.one_hot(labels, label_dim).float()
            )
            extra = {} if augment is None else {"augment_labels": augment}
            ref = edm_net(x, s, one_hot, **extra)
            ours = teacher(x, s, labels, **extra)
            results[f"sigma={sigma:g}, {case}"] = float((ref - ours).abs().max())
            c_skip = 0.25 / (sigma**2 + 0.25)
            network_term = max(network_term, float((ref - c_skip * x).abs().max()))
    return results, network_term


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edm-src", required=True, help="checkout of the public NVlabs/edm code")
    parser.add_argument("--config", choices=sorted(CONFIGS), default="cifar10-cond")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the figures as JSON")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(args.edm_src).resolve()))
    from koopkit_diffusion.teacher import import_edm

    torch.set_grad_enabled(False)
    net = build_edm_network(args.config, args.seed).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "network-snapshot.pkl"
        snapshot(net, path)
        t0 = time.perf_counter()
        imported = import_edm(path)
        seconds = time.perf_counter() - t0
        size = path.stat().st_size
    n_params = sum(p.numel() for p in net.parameters())
    deltas, term = compare(net, imported.teacher, imported.config.label_dim, args.batch, args.seed)
    worst = max(deltas.values())
    for case, value in deltas.items():
        print(f"  {case:<32s} max |Δ| = {value:.3g}")
    print(
        f"{args.config}: EDM network with {n_params:,} parameters, pickle {size / 2**20:.1f} MiB, "
        f"imported in {seconds:.1f} s; max |D_edm − D_koopkit| = {worst:.3g} (fp32, target "
        f"≤ 1e-5); largest network term |D − c_skip·x| = {term:.3g}"
    )
    if args.out:
        record = {"config": args.config, "parameters": n_params, "max_abs_diff": worst,
                  "network_term": term, "cases": deltas, "command": recorded_command()}  # fmt: skip
        Path(args.out).write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
