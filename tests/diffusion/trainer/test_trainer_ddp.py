"""DDP: two CPU processes under torchrun (gloo) train in lockstep; rank 0's checkpoint resumes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from trainer_toys import ToyGAN, toy_dataset

from koopkit_diffusion.trainer import Trainer, TrainerConfig

TESTS = Path(__file__).resolve().parents[2]
CONFIG = dict(
    steps=6, batch_size=8, log_every=2, checkpoint_every=4, lr=1e-2, ema_decay=0.5, seed=1,
    device="cpu", progress=False, loss_figure=False,
)  # fmt: skip

SCRIPT = textwrap.dedent(
    """
    import sys, torch
    sys.path.insert(0, {tests!r})
    from trainer_toys import ToyGAN, toy_dataset
    from koopkit_diffusion.trainer import Trainer, TrainerConfig

    out = sys.argv[1]
    torch.manual_seed(0)
    model = ToyGAN(noisy=False)
    if int(__import__("os").environ["RANK"]) == 1:
        with torch.no_grad():  # DDP must broadcast rank 0's initial weights
            for p in model.parameters():
                p.add_(1.0)
    config = TrainerConfig(**{config!r})
    with Trainer(model, toy_dataset(), config, out + "/run", resume="auto") as trainer:
        result = trainer.train(stop_at=4)
        rank = trainer.ctx.rank
        assert trainer.ctx.world_size == 2
        torch.save(
            {{"model": result.model.state_dict(), "ema": result.ema.state_dict(),
              "losses": [r["total"] for r in result.history]}},
            f"{{out}}/rank{{rank}}.pt",
        )
    try:  # closed: the DDP wrappers were released with the process group
        trainer.train()
        raise SystemExit("a closed trainer trained")
    except RuntimeError as err:
        assert "was closed" in str(err), err
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _same(a: dict, b: dict, exact: bool) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if exact:
            assert torch.equal(a[key], b[key]), key
        else:
            torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)


def test_two_gloo_processes_hold_identical_weights_and_rank0_checkpoint_resumes(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT.format(tests=str(TESTS), config=CONFIG))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(script),
        str(tmp_path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]

    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    _same(rank0["model"], rank1["model"], exact=True)
    _same(rank0["ema"], rank1["ema"], exact=True)
    assert len(rank0["losses"]) == 2 and rank0["losses"] == rank1["losses"]

    # Global batch 8 split 4 + 4 with averaged gradients = one process with batch 8.
    torch.manual_seed(0)
    single = ToyGAN(noisy=False)
    with Trainer(single, toy_dataset(), TrainerConfig(**CONFIG), tmp_path / "single") as t:
        t.train(stop_at=4)
        _same(single.state_dict(), rank0["model"], exact=False)
        t.train()

    # Rank 0's checkpoint (step 4) continues in one process to the end of the run.
    run = tmp_path / "run"
    assert (run / "checkpoints" / "latest").read_text().strip() == "ckpt-00000004.pt"
    torch.manual_seed(5)
    with Trainer(ToyGAN(noisy=False), toy_dataset(), TrainerConfig(**CONFIG), run,
                 resume=True) as resumed:  # fmt: skip
        assert resumed.step == 4
        result = resumed.train()
    assert result.step == 6
    _same(result.model.state_dict(), single.state_dict(), exact=False)
    assert [r["step"] for r in result.history] == [2, 4, 6]
