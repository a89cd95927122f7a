"""Write networks in EDM's pickle format, for the import tests.

EDM's ``torch_utils.persistence`` pickles each network object as a call of
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, ``meta`` holding the module source
that defines the class, the class name and the object's ``__dict__``; ``torch.nn.ModuleDict``
pickles as itself. :func:`edm_pickle` writes a teacher of the project in that layout under EDM's
class names (``EDMPrecond``, ``SongUNet``, ``UNetBlock``, ``Conv2d``, ...). The stand-in module
``torch_utils.persistence`` is registered in ``sys.modules`` only while pickling (pickle needs to
find the function by name); the embedded source is :data:`SOURCE` unless another is given.
"""

from __future__ import annotations

import collections
import contextlib
import copyreg
import math
import pickle
import sys
import types

import numpy as np
from torch import nn

from koopkit_diffusion.edm.nets.layers import Conv2d, PositionalEmbedding, UNetBlock
from koopkit_diffusion.edm.nets.unet import UNet

#: A declarative stand-in for EDM's training/networks.py and training/loss.py.
SOURCE = '''"""Model architectures (stand-in: declarations only)."""

import numpy as np
import torch
from torch_utils import persistence


@persistence.persistent_class
class Linear(torch.nn.Module):
    def __init__(self, in_features, out_features, bias=True, init_mode='kaiming_normal'):
        super().__init__()


@persistence.persistent_class
class Conv2d(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel, resample_filter=[1, 1], init=dict()):
        super().__init__()


@persistence.persistent_class
class GroupNorm(torch.nn.Module):
    def __init__(self, num_channels, num_groups=32, min_channels_per_group=4, eps=1e-5):
        super().__init__()


@persistence.persistent_class
class UNetBlock(torch.nn.Module):
    pass


@persistence.persistent_class
class PositionalEmbedding(torch.nn.Module):
    pass


@persistence.persistent_class
class SongUNet(torch.nn.Module):
    pass


@persistence.persistent_class
class DhariwalUNet(torch.nn.Module):
    pass


@persistence.persistent_class
class EDMPrecond(torch.nn.Module):
    def __init__(self, img_resolution, img_channels, sigma_max=float('inf'), **model_kwargs):
        super().__init__()


@persistence.persistent_class
class EDMLoss:
    def __init__(self, P_mean=-1.2, P_std=1.2, sigma_data=0.5):
        self.P_mean = P_mean
'''


def _reconstruct_persistent_obj(meta):  # only its name matters: the file names this function
    raise RuntimeError("stand-in: never called")


_reconstruct_persistent_obj.__module__ = "torch_utils.persistence"


class Persistent:
    """Pickles as EDM's persistent object ``class_name`` with ``state`` and ``source``."""

    def __init__(self, class_name: str, state: dict, source: str = SOURCE) -> None:
        self.class_name, self.state, self.source = class_name, state, source

    def __reduce__(self):
        meta = {
            "type": "class",
            "version": 6,
            "module_src": self.source,
            "class_name": self.class_name,
            "state": self.state,
        }
        return _reconstruct_persistent_obj, (meta,)


class ModuleDict:
    """Pickles as a ``torch.nn.ModuleDict`` holding ``modules``."""

    def __init__(self, modules: dict) -> None:
        self.modules = modules

    # pickle writes NEWOBJ only for an object of the class it names: claim to be a ModuleDict.
    __class__ = property(lambda self: nn.ModuleDict)

    def __reduce_ex__(self, protocol):
        return copyreg.__newobj__, (nn.ModuleDict,), _module_state({}, {}, self.modules)


def _module_state(parameters: dict, buffers: dict, modules: dict, **attrs) -> dict:
    def param(t):
        return None if t is None else nn.Parameter(t.detach().clone(), requires_grad=False)

    return {
        "training": False,
        "_parameters": collections.OrderedDict((k, param(v)) for k, v in parameters.items()),
        "_buffers": collections.OrderedDict(
            (k, None if v is None else v.detach().clone()) for k, v in buffers.items()
        ),
        "_non_persistent_buffers_set": set(),
        "_modules": collections.OrderedDict(modules),
        "_forward_hooks": collections.OrderedDict(),
        **attrs,
    }


def _convert(module: nn.Module, source: str):
    """A stand-in tree of EDM's layers holding the tensors of ``module``."""

    def children(skip=()):
        return {
            name: _convert(child, source)
            for name, child in module.named_children()
            if name not in skip and not isinstance(child, nn.Dropout)
        }

    if isinstance(module, nn.ModuleDict):
        return ModuleDict(children())
    if isinstance(module, nn.Linear):
        state = _module_state({"weight": module.weight, "bias": module.bias}, {}, {})
        return Persistent("Linear", state, source)
    if isinstance(module, nn.GroupNorm):
        state = _module_state(
            {"weight": module.weight, "bias": module.bias}, {}, {},
            num_groups=module.num_groups, eps=module.eps,
        )  # fmt: skip
        return Persistent("GroupNorm", state, source)
    if isinstance(module, Conv2d):
        state = _module_state(
            {"weight": module.weight, "bias": module.bias},
            {"resample_filter": module.resample_filter}, {},
            in_channels=module.in_channels, out_channels=module.out_channels,
            up=module.up, down=module.down, fused_resample=False,
        )  # fmt: skip
        return Persistent("Conv2d", state, source)
    if isinstance(module, PositionalEmbedding):
        n = 2 * module.freqs.numel()
        state = _module_state({}, {}, {}, num_channels=n, max_positions=10000, endpoint=True)
        return Persistent("PositionalEmbedding", state, source)
    if isinstance(module, UNetBlock):
        state = _module_state(
            {}, {}, children(),
            in_channels=module.in_channels, out_channels=module.out_channels,
            num_heads=int(module.attention), dropout=module.dropout.p,
            skip_scale=np.float64(math.sqrt(0.5)), adaptive_scale=False,
        )  # fmt: skip
        return Persistent("UNetBlock", state, source)
    raise TypeError(f"no EDM counterpart for {type(module).__name__}")


def _songunet(net: UNet, config, source: str) -> Persistent:
    kwargs = dict(
        img_resolution=net.img_resolution, in_channels=net.in_channels,
        out_channels=net.out_channels, label_dim=net.label_dim, augment_dim=config.augment_dim,
        model_channels=config.model_channels, channel_mult=list(config.channel_mult),
        num_blocks=config.num_blocks, attn_resolutions=list(config.attn_resolutions),
        dropout=config.dropout, embedding_type="positional", encoder_type="standard",
        decoder_type="standard", channel_mult_noise=1, resample_filter=[1, 1],
    )  # fmt: skip
    modules = {
        name: None if child is None else _convert(child, source)
        for name, child in [
            ("map_noise", net.map_noise), ("map_label", net.map_label),
            ("map_augment", net.map_augment), ("map_layer0", net.map_layer0),
            ("map_layer1", net.map_layer1), ("enc", net.enc), ("dec", net.dec),
        ]
    }  # fmt: skip
    state = _module_state({}, {}, modules, _init_args=(), _init_kwargs=kwargs, label_dropout=0)
    return Persistent("SongUNet", state, source)


@contextlib.contextmanager
def _registered_stand_ins():
    """``torch_utils.persistence`` in ``sys.modules`` while pickling, and only then."""
    package = types.ModuleType("torch_utils")
    module = types.ModuleType("torch_utils.persistence")
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj
    package.persistence = module
    saved = {name: sys.modules.get(name) for name in ("torch_utils", "torch_utils.persistence")}
    sys.modules.update({"torch_utils": package, "torch_utils.persistence": module})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = value


def edm_pickle(teacher, config, source: str = SOURCE, extra: dict | None = None) -> bytes:
    """A teacher of the project as EDM's ``network-snapshot-*.pkl`` bytes.

    Parameters
    ----------
    teacher : Teacher
        With a UNet; its tensors become the file's.
    config : TeacherConfig
        Its configuration (recorded as SongUNet's constructor arguments).
    source : str
        The module source embedded in every persistent object.
    extra : dict, optional
        More entries of the snapshot dict (e.g. a payload).
    """
    net = teacher.net
    init = {
        "img_resolution": net.img_resolution, "img_channels": net.in_channels,
        "label_dim": net.label_dim, "use_fp16": False, "sigma_min": 0, "sigma_max": float("inf"),
        "sigma_data": teacher.sigma_data, "model_type": "SongUNet",
    }  # fmt: skip
    ema_state = _module_state(
        {}, {}, {"model": _songunet(net, config, source)}, _init_args=(), _init_kwargs=init,
        **{k: v for k, v in init.items() if k != "model_type"},
    )  # fmt: skip
    loss = Persistent("EDMLoss", {"P_mean": -1.2, "P_std": 1.2, "sigma_data": 0.5}, source)
    snapshot = {
        "ema": Persistent("EDMPrecond", ema_state, source),
        "loss_fn": loss,
        "augment_pipe": None,
        "dataset_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "path": "x.zip"},
        **(extra or {}),
    }
    with _registered_stand_ins():
        return pickle.dumps(snapshot)
