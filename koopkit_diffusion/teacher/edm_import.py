"""Import NVIDIA's published EDM networks as teachers, without running any code from the file.

EDM's pretrained networks (``edm-cifar10-32x32-cond-vp.pkl``, ``edm-cifar10-32x32-uncond-vp.pkl``,
``edm-ffhq-64x64-uncond-vp.pkl``, ``edm-afhqv2-64x64-uncond-vp.pkl``; Karras et al. 2022) are
``EDMPrecond`` around a DDPM++ ``SongUNet``. :func:`import_edm` reads the pickle into inert records
(:mod:`koopkit_diffusion.teacher.edm_pickle`), takes the architecture from the constructor
arguments recorded in it, builds the project's :class:`~koopkit_diffusion.edm.nets.unet.UNet`
(whose module tree mirrors ``SongUNet``) and copies every tensor by name: ``model.<path>`` becomes
``net.<path>``. Every tensor of the file is used and every tensor of the teacher comes from the
file, except the positional embedding's frequency table, which EDM computes on the fly. Each
layer's recorded settings (group count and ε of the norms, resampling of the convolutions,
attention heads, the blocks' skip scale) are checked against the layer they land in.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .edm_pickle import Record, load_edm_pickle
from .model import Teacher, TeacherConfig, build_teacher

__all__ = ["ImportedEDM", "edm_state_dict", "import_edm"]

#: SongUNet's constructor defaults (EDM, ``training/networks.py``), for arguments a pickle omits.
_SONGUNET_DEFAULTS = {
    "label_dim": 0,
    "augment_dim": 0,
    "model_channels": 128,
    "channel_mult": [1, 2, 2, 2],
    "channel_mult_emb": 4,
    "num_blocks": 4,
    "attn_resolutions": [16],
    "dropout": 0.10,
    "label_dropout": 0,
    "embedding_type": "positional",
    "channel_mult_noise": 1,
    "encoder_type": "standard",
    "decoder_type": "standard",
    "resample_filter": [1, 1],
}
#: What this importer reproduces: DDPM++ (the "vp" networks the KDM paper distills).
_SUPPORTED = {
    "encoder_type": "standard",
    "decoder_type": "standard",
    "channel_mult_noise": 1,
    "channel_mult_emb": 4,
    "resample_filter": [1, 1],
}


@dataclass
class ImportedEDM:
    """What :func:`import_edm` returns.

    Attributes
    ----------
    teacher : Teacher
        In eval mode, gradients off, on the CPU.
    config : TeacherConfig
        The architecture and EDM parameters read from the pickle.
    info : dict
        Provenance: the file's sha256, the embedded sources' sha256, the recorded training loss
        and augmentation settings and ``dataset_kwargs``.
    """

    teacher: Teacher
    config: TeacherConfig
    info: dict[str, Any] = field(default_factory=dict)


def _modules(record: Record) -> dict[str, Any]:
    return dict(record.state.get("_modules") or {})


def _walk(record: Record, prefix: str = ""):
    """``(dotted path, record)`` of ``record`` and every sub-record, depth first."""
    yield prefix, record
    for name, child in _modules(record).items():
        if isinstance(child, Record):
            yield from _walk(child, f"{prefix}.{name}" if prefix else name)
        elif child is not None:
            raise ValueError(f"{prefix}.{name} is a {type(child).__name__}, not a network record")


def _tensors(record: Record) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of a record tree by dotted name."""
    out = {}
    for path, rec in _walk(record):
        for kind in ("_parameters", "_buffers"):
            for name, value in (rec.state.get(kind) or {}).items():
                if value is None:
                    continue
                if not isinstance(value, torch.Tensor):
                    raise ValueError(f"{path}.{name} is a {type(value).__name__}, not a tensor")
                out[f"{path}.{name}" if path else name] = value
    return out


def _kwargs(record: Record) -> dict[str, Any]:
    args, kwargs = record.state.get("_init_args"), record.state.get("_init_kwargs")
    if args:
        raise ValueError(f"{record.class_name} was built with positional arguments {args!r}")
    if not isinstance(kwargs, dict):
        raise ValueError(f"{record.class_name} does not record its constructor arguments")
    return dict(kwargs)


def _architecture(ema: Record, loss: Any) -> TeacherConfig:
    if ema.class_name != "EDMPrecond":
        raise ValueError(
            f"the network is a {ema.class_name}; only EDMPrecond networks (EDM's own "
            "preconditioning, the edm-*.pkl files) are supported"
        )
    model = _modules(ema).get("model")
    if not isinstance(model, Record) or model.class_name != "SongUNet":
        found = model.class_name if isinstance(model, Record) else type(model).__name__
        raise ValueError(f"EDMPrecond wraps a {found}; only SongUNet (DDPM++) is supported")
    unet = {**_SONGUNET_DEFAULTS, **_kwargs(model)}
    for key, value in _SUPPORTED.items():
        if list(np.atleast_1d(unet[key])) != list(np.atleast_1d(value)):
            raise ValueError(
                f"SongUNet with {key}={unet[key]!r} is not supported (DDPM++ uses {value!r}); "
                "only the DDPM++ 'vp' networks can be imported"
            )
    if unet["in_channels"] != unet["out_channels"]:
        raise ValueError(f"SongUNet maps {unet['in_channels']} to {unet['out_channels']} channels")
    state = ema.state
    channels, resolution = int(state["img_channels"]), int(state["img_resolution"])
    p_mean, p_std = -1.2, 1.2
    if isinstance(loss, Record) and loss.class_name == "EDMLoss":
        p_mean, p_std = float(loss.state["P_mean"]), float(loss.state["P_std"])
    return TeacherConfig(
        shape=(channels, resolution, resolution),
        label_dim=int(state["label_dim"]),
        network="unet",
        model_channels=int(unet["model_channels"]),
        channel_mult=tuple(int(m) for m in unet["channel_mult"]),
        num_blocks=int(unet["num_blocks"]),
        attn_resolutions=tuple(int(r) for r in unet["attn_resolutions"]),
        dropout=float(unet["dropout"]),
        augment_dim=int(unet["augment_dim"]),
        embedding_type=str(unet["embedding_type"]),
        sigma_data=float(state["sigma_data"]),
        P_mean=p_mean,
        P_std=p_std,
        # EDM's sampler clamps its range (0.002, 80) to the network's (0, inf by default).
        sigma_min=max(0.002, float(state["sigma_min"])),
        sigma_max=min(80.0, float(state["sigma_max"])),
    )


def _check_layer(path: str, record: Record, module: nn.Module) -> None:
    """The recorded settings of an EDM layer equal those of the layer its tensors land in."""
    s = record.state
    pairs: dict[str, tuple[Any, Any]] = {}  # setting -> (EDM's value, the project's value)
    if record.class_name == "GroupNorm":
        pairs = {"num_groups": (s["num_groups"], module.num_groups), "eps": (s["eps"], module.eps)}
    elif record.class_name == "Conv2d":
        resamples = (s["up"] or s["down"]) and s["_parameters"].get("weight") is not None
        pairs = {
            "up": (s["up"], module.up),
            "down": (s["down"], module.down),
            "fused_resample": (bool(s.get("fused_resample")) and bool(resamples), False),
        }
    elif record.class_name == "UNetBlock":
        pairs = {
            "num_heads": (int(s["num_heads"]), int(module.attention)),
            "skip_scale": (float(s["skip_scale"]), module.skip_scale),
            "adaptive_scale": (bool(s["adaptive_scale"]), False),
        }
    elif record.class_name == "PositionalEmbedding":
        pairs = {
            "endpoint": (bool(s["endpoint"]), True),
            "max_positions": (s["max_positions"], 10000),
            "num_channels": (s["num_channels"], 2 * module.freqs.numel()),
        }
    for name, (theirs, ours) in pairs.items():
        if isinstance(ours, float):
            same = math.isclose(theirs, ours, rel_tol=1e-6)
        else:
            same = theirs == ours
        if not same:
            raise ValueError(
                f"{path}: EDM's {record.class_name} has {name}={theirs!r}, the project's layer "
                f"{ours!r}"
            )


def edm_state_dict(ema: Record, teacher: Teacher) -> dict[str, torch.Tensor]:
    """The teacher's state dict from an EDMPrecond record: ``model.<path>`` → ``net.<path>``.

    Parameters
    ----------
    ema : Record
        The ``EDMPrecond`` record of the pickle.
    teacher : Teacher
        Built with the architecture of the record; provides the names, shapes and layers.

    Returns
    -------
    dict of str to Tensor
        Ready for ``teacher.load_state_dict(..., strict=True)``.

    Raises
    ------
    ValueError
        A tensor missing on either side, a shape mismatch or a layer setting that differs,
        naming the tensor or layer.
    """
    theirs = _tensors(ema)
    ours = teacher.state_dict()
    modules = dict(teacher.named_modules())
    for path, record in _walk(ema):
        target = "net" + path[len("model") :] if path.startswith("model") else path
        if path and target in modules:
            _check_layer(path, record, modules[target])
    positional = type(teacher.net.map_noise).__name__ == "PositionalEmbedding"
    computed = {"net.map_noise.freqs"} if positional else set()  # EDM computes it in forward
    state, missing = {}, []
    for name, value in ours.items():
        source = "model" + name[len("net") :] if name.startswith("net.") else name
        if name in computed:
            state[name] = value
        elif source not in theirs:
            missing.append(source)
        elif tuple(theirs[source].shape) != tuple(value.shape):
            raise ValueError(
                f"{source} has shape {tuple(theirs[source].shape)}; the teacher's {name} has "
                f"{tuple(value.shape)}"
            )
        else:
            state[name] = theirs[source].to(value.dtype)
    used = {"model" + n[len("net") :] for n in state if n not in computed}
    unused = sorted(set(theirs) - used)
    if missing or unused:
        raise ValueError(
            f"the pickle's tensors do not match the teacher: missing {missing[:8]}, unused "
            f"{unused[:8]}"
        )
    return state


def import_edm(path: str | os.PathLike) -> ImportedEDM:
    """Import an EDM network pickle (``network-snapshot-*.pkl``, ``edm-*.pkl``) as a teacher.

    The file is read with a restricted unpickler: no code from it runs — not its globals, not the
    module source that EDM's ``persistence`` format embeds (which EDM's own loader executes).

    Parameters
    ----------
    path : path-like
        The pickle, downloaded by hand (nothing is downloaded here).

    Returns
    -------
    ImportedEDM
        The teacher (EMA weights, eval mode), its configuration and provenance.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file holds anything but the admitted globals
        (:class:`~koopkit_diffusion.safe_pickle.UnsafePickleError`), an embedded source that
        would run code, an unsupported network, or tensors that do not match.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no EDM pickle at {path} (download it by hand: see the CIFAR-10 guide)"
        )
    data = path.read_bytes()
    loaded = load_edm_pickle(data, str(path))
    if isinstance(loaded, dict) and "ema" in loaded:
        ema, loss = loaded["ema"], loaded.get("loss_fn")
    else:
        ema, loss = loaded, None
    if not isinstance(ema, Record):
        raise ValueError(
            f"{path}: expected EDM's snapshot dict with an 'ema' network, found "
            f"{type(ema).__name__}"
        )
    try:
        config = _architecture(ema, loss)
        teacher = build_teacher(config)
        teacher.load_state_dict(edm_state_dict(ema, teacher), strict=True)
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: {type(err).__name__}: {err}") from err
    augment = loaded.get("augment_pipe") if isinstance(loaded, dict) else None
    info = {
        "file": path.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "sources_sha256": sorted({r.source_sha256 for _, r in _walk(ema) if r.source_sha256}),
        "loss": loss.class_name if isinstance(loss, Record) else None,
        "augment_p": float(augment.state.get("p", 0.0)) if isinstance(augment, Record) else 0.0,
        "dataset_kwargs": _plain(loaded.get("dataset_kwargs"))
        if isinstance(loaded, dict)
        else None,
    }
    return ImportedEDM(teacher.eval().requires_grad_(False), config, info)


def _plain(value: Any) -> Any:
    """JSON-ready copy of the recorded dataset arguments (strings, numbers, lists, dicts)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
