"""KDM on CIFAR-10 at paper scale (GPU), with a CPU smoke test of the same code path
=================================================================================


The paper's setting (Berman et al. 2025): 1M noise→sample pairs from an EDM teacher with 18 Heun
steps; three UNets (64 channels, mult (1, 2, 2, 2), 4 blocks, attention at 16×16, 1 latent
channel), dense Koopman operator with bias, LPIPS + adversarial loss, Adam 3e-4, batch 128,
EMA 0.9999, 800k steps. Presets ``cifar10-uncond`` and ``cifar10-cond``.

GPU command lines
-----------------
1. Pairs. Either import a pair set that exists (one ``.npz`` per pair, or ``torch.save``
   shards; say which end is the noise and how it is scaled)::

       koopkit-diffusion pairs import --format npz-per-pair --src /data/edm-cifar10-pairs \\
           --noise-index 0 --noise-scale 80 --out /data/cifar10-pairs --dtype float16

   or generate them with a teacher run, one process per GPU (resumable, byte-identical)::

       torchrun --nproc_per_node=8 -m koopkit_diffusion.cli pairs generate \\
           --teacher runs/cifar10-teacher --out /data/cifar10-pairs --n 1000000 \\
           --batch-size 1024 --dtype float16

2. LPIPS weights (never downloaded): put ``vgg16_features.pth`` (torchvision ``vgg16().features``
   state dict) and ``lpips_vgg.pth`` (the LPIPS v0.1 ``vgg.pth`` linear heads) in a folder.

3. Train, 8 GPUs on one node (global batch 128 = 16 per GPU, bf16 autocast, DDP)::

       torchrun --nproc_per_node=8 -m koopkit_diffusion.cli train --preset cifar10-uncond \\
           --pairs /data/cifar10-pairs --out runs/kdm-cifar10-uncond \\
           --set model.lpips_weights=/weights/lpips

   Class-conditional: ``--preset cifar10-cond`` on a labelled pair set. One GPU:
   ``koopkit-diffusion train ...`` with the same arguments. Several nodes::

       torchrun --nnodes=2 --node_rank=$NODE_RANK --nproc_per_node=8 \\
           --rdzv_backend=c10d --rdzv_endpoint=$MASTER:29500 -m koopkit_diffusion.cli train ...

   Add ``--resume`` to continue an interrupted run exactly (model, EMA, optimizers, step, RNG
   states and data position), e.g. after a pre-emption.

4. Sample and score::

       koopkit-diffusion sample --run runs/kdm-cifar10-uncond --n 50000 --out samples.npz
       koopkit-diffusion fid --help          # FID with local Inception weights

CPU smoke test
--------------
``python examples/06_cifar10_kdm.py --smoke`` builds the ``cifar10-uncond`` preset scaled down
(16 channels, one block per level), writes randomly initialised LPIPS weights in the expected
file format and a tiny synthetic pair set, trains a few steps with LPIPS and the adversary
(rerunning continues the run with ``resume="auto"``) and samples: every piece the GPU run uses.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

SMOKE = {
    "model.model_channels": "16",
    "model.channel_mult": "1,2",
    "model.num_blocks": "1",
    "model.attn_resolutions": "16",
    "model.discriminator_channels": "8",
    "model.lpips_resize": "32",
    "train.batch_size": "4",
    "train.log_every": "2",
    "train.checkpoint_every": "2",
    "train.sample_every": "0",
    "train.ema_decay": "0.9",
}


def _smoke(work: Path) -> None:
    from koopkit_diffusion.kdm.lpips import write_random_weights
    from koopkit_diffusion.pairs import PairSetWriter, new_manifest
    from koopkit_diffusion.runs import load_generator, train_run

    lpips = write_random_weights(work / "lpips")

    pairs = work / "pairs"
    if not (pairs / "manifest.json").is_file():
        n, shape = 64, (3, 32, 32)
        rng = np.random.default_rng(0)
        manifest = new_manifest(
            count=n,
            shard_size=n,
            shape=shape,
            dtype="float32",
            label_dim=0,
            noise_scale=80.0,
            seed=0,
            teacher={"description": "synthetic"},
            sampler=None,
            source="synthetic (examples/06_cifar10_kdm.py --smoke)",
        )
        PairSetWriter(pairs, manifest).write_shard(
            0,
            {
                "noise": rng.standard_normal((n, *shape)).astype(np.float32),
                "sample": np.tanh(rng.standard_normal((n, *shape))).astype(np.float32),
            },
        )
    overrides = {**SMOKE, "model.lpips_weights": str(lpips), "train.steps": "4"}
    run = work / "run"
    t0 = time.perf_counter()
    train_run("cifar10-uncond", run, pairs=pairs, overrides=overrides, resume="auto")
    model = load_generator(run).model
    x = model.sample(4, generator=torch.Generator().manual_seed(0))
    secs = time.perf_counter() - t0
    print(f"smoke test: 4 steps with LPIPS + adversary in {secs:.1f} s, samples {tuple(x.shape)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run on synthetic pairs")
    parser.add_argument("--workdir", default="runs/example06-smoke")
    args = parser.parse_args()
    if not args.smoke:
        print(__doc__)
        return
    _smoke(Path(args.workdir))


if __name__ == "__main__":
    main()
