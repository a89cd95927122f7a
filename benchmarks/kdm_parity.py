"""The presets against the KDM authors' own code: same weights in, same losses and samples out.

Export the authors' repository (azencot-group/KDM) to a scratch folder outside this one, e.g.
``git -C <mirror> archive HEAD | tar -x -C /tmp/kdm-src``, then::

    python benchmarks/kdm_parity.py --authors-src /tmp/kdm-src

For the ``checkerboard`` preset, a small ``cifar10-cond`` (16 channels instead of 64; the
structure is the preset's) and the operator of ``cifar10-uncond-decomposed``, the script builds
the authors' model, copies its weights into ours (parameter by parameter, in order; the halves of
the first embedding layer swapped, since the authors' sinusoidal embedding is ``[sin, cos]`` and
ours ``[cos, sin]``) and prints the largest differences of the loss terms, one-step samples,
operator steps and penalties. Latent noise is set to 0 and the models are in eval mode, so the
comparison is deterministic. The authors' image model imports ``piq`` for LPIPS; when it is not
installed a stand-in module is used (LPIPS is not compared here: the losses are MSE). Writes
``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

import torch


def _copy_parameters(src: torch.nn.Module, dst: torch.nn.Module) -> None:
    pairs = list(zip(src.named_parameters(), dst.named_parameters(), strict=True))
    with torch.no_grad():
        for (ks, vs), (kd, vd) in pairs:
            if vs.shape != vd.shape:
                raise SystemExit(f"parameter {ks} {tuple(vs.shape)} vs {kd} {tuple(vd.shape)}")
            value = vs
            if ks.endswith("map_layer0.weight"):  # [sin, cos] (theirs) → [cos, sin] (ours)
                half = value.shape[1] // 2
                value = torch.cat([value[:, half:], value[:, :half]], 1)
            vd.copy_(value)


def _max_diff(a: dict, b: dict, keys: dict) -> dict:
    return {
        ours: abs(float(a[theirs].detach()) - float(b[ours].detach()))
        for ours, theirs in keys.items()
    }


def checkerboard() -> dict:
    from models.koopman_model_checkerboard import Decoder, Encoder, KoopmanDistillModelCheckerBoard
    from utils.names import RecLossType

    from koopkit_diffusion.runs.presets import get_preset
    from koopkit_diffusion.students import KDM

    torch.manual_seed(0)
    theirs = KoopmanDistillModelCheckerBoard(
        Encoder(2, 256), Encoder(2, 256), Decoder(2, 256), torch.nn.Linear(256, 256),
        RecLossType.L2, noisy_latent=0.0,
    )  # fmt: skip
    ours = KDM(get_preset("checkerboard", {"model.sigma_z": "0"}).model)
    for src, dst in (
        (theirs.x0_observables_encoder, ours.encoder_data),
        (theirs.xT_observables_encoder, ours.encoder_noise),
        (theirs.x0_observables_decoder, ours.decoder),
    ):
        _copy_parameters(src, dst)
    ours.operator.load_state_dict(theirs.koopman_operator.state_dict())  # weight, bias
    x0, eps = torch.randn(256, 2) * 2, torch.randn(256, 2)
    loss_theirs = theirs.loss(theirs(x0=x0, xT=eps))  # their 2-D noise is at unit scale
    loss_ours = ours.losses({"noise": eps, "sample": x0})
    keys = {"total": "loss", "latent": "latent_loss", "reconstruction": "rec_loss_x0"}
    with torch.no_grad():
        z = theirs.koopman_operator(theirs.xT_observables_encoder(eps, torch.ones(256)))
        sample_theirs = theirs.x0_observables_decoder(z, torch.zeros(256))
    sample = float((sample_theirs - ours.sample(noise=eps)).abs().max())
    return {
        "parameters": [sum(p.numel() for p in m.parameters()) for m in (theirs, ours)],
        "loss_diff": _max_diff(loss_theirs, loss_ours, keys),
        "loss": float(loss_ours["total"].detach()),
        "sample_max_diff": sample,
    }


def cifar_cond(channels: int) -> dict:
    from models.koopman_model import AdversarialOneStepKoopmanCifar10
    from utils.names import CondType, EigenSpecKoopmanLossTypes, RecLossType

    from koopkit_diffusion.runs.presets import get_preset
    from koopkit_diffusion.students import KDM

    torch.manual_seed(0)
    theirs = AdversarialOneStepKoopmanCifar10(
        img_resolution=32, rec_loss_type=RecLossType.L2, out_channels=1, noisy_latent=0.0,
        model_channels=channels, channel_mult=[1, 2, 2, 2], initial_noise_factor=80,
        cond_type=CondType.KoopmanMatrixAddition, label_dim=10,
        koopman_loss_type=EigenSpecKoopmanLossTypes.NoLoss, linear_proj=None,
    )  # fmt: skip
    overrides = {"model.loss": "mse", "model.sigma_z": "0", "model.w_adv": "0"}
    ours = KDM(
        get_preset("cifar10-cond", {**overrides, "model.model_channels": str(channels)}).model
    )
    for src, dst in (
        (theirs.x0_observables_encoder, ours.encoder_data.net),
        (theirs.xT_observables_encoder, ours.encoder_noise.net),
        (theirs.x0_observables_decoder, ours.decoder.net),
    ):
        _copy_parameters(src, dst)
    ours.operator.load_state_dict(theirs.koopman_operator.state_dict())
    ours.control.load_state_dict(theirs.koopman_control.state_dict())
    theirs.eval(), ours.eval()
    x0, eps = torch.rand(4, 3, 32, 32) * 2 - 1, torch.randn(4, 3, 32, 32)
    labels = torch.tensor([1, 3, 5, 7])
    onehot = torch.eye(10)[labels]
    with torch.no_grad():
        loss_theirs = theirs.loss(theirs(x0=x0, xT=80 * eps, labels=onehot))
        loss_ours = ours.losses({"noise": eps, "sample": x0, "label": labels})
        z = theirs.xT_observables_encoder(80 * eps, torch.ones(4), onehot).reshape(4, -1)
        z = theirs.koopman_operator(z) + theirs.koopman_control(onehot)
        x = theirs.x0_observables_decoder(z.reshape(4, 1, 32, 32), torch.zeros(4), onehot)
    keys = {"total": "loss", "latent": "latent_loss", "reconstruction": "rec_loss",
            "push": "push_rec_loss"}  # fmt: skip
    return {
        "model_channels": channels,
        "parameters": [sum(p.numel() for p in m.parameters()) for m in (theirs, ours)],
        "loss_diff": _max_diff(loss_theirs, loss_ours, keys),
        "loss": float(loss_ours["total"].detach()),
        "sample_max_diff": float((x - ours.sample(noise=eps, labels=labels)).abs().max()),
        "sample_scale": float(x.abs().max()),
    }


def decomposed_operator() -> dict:
    from models.koopman_model import FastKoopmanMatrix

    from koopkit.operators import ComplexEigendecomposedOperator

    torch.manual_seed(0)
    theirs, dim = FastKoopmanMatrix(1024), 1024
    targets = torch.complex(torch.empty(dim).uniform_(-1, 1), torch.empty(dim).uniform_(-1, 1))
    ours = ComplexEigendecomposedOperator(dim, eigenvalue_targets=torch.view_as_real(targets))
    with torch.no_grad():
        for name, theirs_name in (("P_re", "P_re"), ("P_im", "P_im"), ("Q_re", "P_inv_re"),
                                  ("Q_im", "P_inv_im"), ("nu", "nu_log"),
                                  ("theta_log", "theta_log")):  # fmt: skip
            getattr(ours, name).copy_(getattr(theirs, theirs_name))
    z = torch.randn(16, dim)
    # their eigen_loss (models/koopman_model.py), recomputed from its definition
    p_re, p_im = (theirs.normalize_rows(x) for x in (theirs.P_re, theirs.P_im))
    big_p = theirs.to_real_block_matrix(p_re, p_im)
    big_q = theirs.to_real_block_matrix(theirs.P_inv_re, theirs.P_inv_im)
    eye = torch.eye(2 * dim)
    mse = torch.nn.functional.mse_loss
    inverse = mse(big_q @ big_p, eye) + mse(big_p @ big_q, eye)
    modulus = torch.exp(-torch.exp(theirs.nu_log))
    phase = torch.exp(theirs.theta_log)
    lam = torch.complex(modulus * torch.cos(phase), modulus * torch.sin(phase))
    penalty_theirs = (lam - targets).abs().mean() + inverse
    return {
        "parameters": [sum(p.numel() for p in m.parameters()) for m in (theirs, ours)],
        "step_max_diff": float((theirs(z) - ours(z)).detach().abs().max()),
        "step_scale": float(theirs(z).detach().abs().max()),
        "penalty_diff": abs(float(penalty_theirs.detach()) - float(ours.penalty().detach())),
        "penalty": float(ours.penalty().detach()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--authors-src", required=True, help="an export of azencot-group/KDM")
    parser.add_argument("--channels", type=int, default=16, help="UNet width of the CIFAR check")
    parser.add_argument("--out", default="runs/kdm_parity.json")
    args = parser.parse_args()
    src = Path(args.authors_src).resolve()
    if not (src / "models" / "koopman_model.py").is_file():
        raise SystemExit(f"{src} does not hold the authors' models/koopman_model.py")
    sys.path.insert(0, str(src))
    try:
        import piq  # noqa: F401
    except ImportError:  # their model builds piq.LPIPS in __init__; MSE is compared here
        stand_in = types.ModuleType("piq")
        stand_in.LPIPS = lambda *a, **k: torch.nn.Identity()
        sys.modules["piq"] = stand_in

    report = {
        "checkerboard": checkerboard(),
        "cifar10-cond": cifar_cond(args.channels),
        "decomposed_operator": decomposed_operator(),
    }
    print(json.dumps(report, indent=2))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
