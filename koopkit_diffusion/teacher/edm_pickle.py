"""Read EDM's network pickles into inert records, executing nothing the file contains.

EDM (Karras et al. 2022) saves networks with ``torch_utils.persistence``: every network class
pickles as a call of ``_reconstruct_persistent_obj(meta)`` whose ``meta`` holds the *source code
of the module* that defined the class, the class name and the object's state, and EDM's loader
``exec``-s that source. Here the pickle is read by
:class:`~koopkit_diffusion.safe_pickle.RestrictedUnpickler` with the table :data:`EDM_GLOBALS`:
tensors are rebuilt (storages through ``torch.load(weights_only=True)``), plain containers are
admitted, and each persistent object (and each ``torch.nn.ModuleDict``) becomes an inert
:class:`Record` holding its class name and state. Any other global is refused.

The embedded source is never executed; it is parsed (:func:`check_declarative_source`) so that a
file whose source would *do* something when imported — a call, an ``open``, an ``exec`` at module
or class level, a decorator that is not a known one — is refused as not being what it says.
"""

from __future__ import annotations

import ast
import collections
import hashlib
import io
from dataclasses import dataclass, field
from typing import Any

import torch

from koopkit_diffusion.safe_pickle import (
    NUMPY_ARRAY_GLOBALS,
    UnsafePickleError,
    restricted_loads,
)

__all__ = ["EDM_GLOBALS", "Record", "check_declarative_source", "load_edm_pickle"]


@dataclass
class Record:
    """An inert stand-in for an object of a pickled EDM network.

    Attributes
    ----------
    class_name : str
        ``"SongUNet"``, ``"Conv2d"``, ... for persistent objects; ``"ModuleDict"`` (and the other
        torch containers) for the containers.
    state : dict
        The object's pickled ``__dict__``: ``_parameters``, ``_buffers``, ``_modules``,
        ``_init_kwargs`` and attributes.
    source_sha256 : str or None
        sha256 of the embedded module source (persistent objects only).
    """

    class_name: str
    state: dict[str, Any] = field(default_factory=dict)
    source_sha256: str | None = None

    def __setstate__(self, state: Any) -> None:
        # BUILD of a torch container: the pickler hands its __dict__ over.
        if not isinstance(state, dict):
            raise UnsafePickleError(
                f"a {self.class_name} record got a {type(state).__name__} state"
            )
        self.state = dict(state)


class _Container(Record):
    """Built by the pickle's NEWOBJ (``cls.__new__(cls)``) for the torch containers EDM uses."""

    def __new__(cls, *args: Any) -> _Container:
        if args:
            raise UnsafePickleError(f"a torch container was constructed with arguments {args!r}")
        record = super().__new__(cls)
        record.class_name, record.state, record.source_sha256 = cls.__name__, {}, None
        return record


def _container(name: str) -> type:
    return type(name, (_Container,), {"__module__": __name__})


class _EasyDict(dict):
    """``dnnlib.EasyDict`` as a plain dict (its attribute access is not needed)."""


def _load_storage(data: bytes) -> Any:
    # Storages pickle as torch.save bytes of the legacy format: loaded with weights_only.
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError(f"a tensor storage was given {type(data).__name__}, not bytes")
    return torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)


def _rebuild_tensor(storage: Any, offset: int, size: tuple, stride: tuple, *rest: Any) -> Any:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise UnsafePickleError(f"a tensor was rebuilt from a {type(storage).__name__}")
    # rest: requires_grad, backward_hooks[, metadata]; the tensor is rebuilt without either.
    if len(rest) > 1 and rest[1]:
        raise UnsafePickleError("a tensor carries backward hooks (callables); refused")
    return torch._utils._rebuild_tensor_v2(
        storage, offset, size, stride, False, collections.OrderedDict()
    )


def _rebuild_parameter(
    data: Any, requires_grad: bool = False, hooks: Any = None, *state: Any
) -> Any:
    if not isinstance(data, torch.Tensor) or hooks:
        raise UnsafePickleError("a parameter was rebuilt from something else than a plain tensor")
    return data


_SOURCES: dict[str, set[str]] = {}  # sha256 of a checked source -> the classes it defines


def _reconstruct_persistent_obj(meta: Any) -> Record:
    if not (isinstance(meta, dict) and meta.get("type") == "class"):
        raise UnsafePickleError("a persistent object without EDM's metadata (type 'class')")
    name, source, state = meta.get("class_name"), meta.get("module_src"), meta.get("state")
    if not (isinstance(name, str) and isinstance(source, str) and isinstance(state, dict)):
        raise UnsafePickleError(
            "a persistent object whose class name, source or state is malformed"
        )
    digest = hashlib.sha256(source.encode()).hexdigest()
    if digest not in _SOURCES:
        _SOURCES[digest] = check_declarative_source(source, f"class {name}")
    if name not in _SOURCES[digest]:
        raise UnsafePickleError(f"the embedded source does not define the class {name!r}")
    return Record(name, dict(state), digest)


#: What an EDM network pickle may name, and what each name resolves to here.
EDM_GLOBALS: dict[tuple[str, str], Any] = {
    **NUMPY_ARRAY_GLOBALS,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    **{
        ("torch.nn.modules.container", name): _container(name)
        for name in ("ModuleDict", "ModuleList", "Sequential")
    },
}

# ------------------------------------------------------------------ the embedded source

#: Calls allowed where a definition is evaluated (defaults such as ``float('inf')``, ``dict()``).
_CALLS = {"bool", "dict", "float", "frozenset", "int", "list", "set", "str", "tuple"}
_DECORATORS = {"classmethod", "property", "staticmethod"}
#: Packages an embedded source may import (EDM's sources import numpy, torch and its utilities).
_IMPORTS = {
    "__future__", "collections", "copy", "dnnlib", "functools", "math", "numpy", "re", "scipy",
    "torch", "torch_utils", "typing", "warnings",
}  # fmt: skip


def _refuse(where: str, node: ast.AST, what: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"the module source embedded for {where} would {what} when imported (line "
        f"{getattr(node, 'lineno', '?')}); a network definition only defines things, so the file "
        "is refused (nothing in it was executed)"
    )


def _static(node: ast.AST | None, where: str) -> None:
    """Raise unless evaluating ``node`` can only look names up and build literals."""
    if node is None or isinstance(node, (ast.Constant, ast.Name)):
        return
    if isinstance(node, ast.Dict) and any(k is None for k in node.keys):
        raise _refuse(where, node, "unpack a mapping")
    children: list[ast.AST | None]
    if isinstance(node, ast.Attribute):
        children = [node.value]
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        children = list(node.elts)
    elif isinstance(node, ast.Dict):
        children = [*node.keys, *node.values]
    elif isinstance(node, ast.UnaryOp):
        children = [node.operand]
    elif isinstance(node, ast.BinOp):
        children = [node.left, node.right]
    elif isinstance(node, ast.Subscript):
        children = [node.value, node.slice]
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _CALLS:
        children = [*node.args, *(k.value for k in node.keywords)]
    elif isinstance(node, ast.Call):
        raise _refuse(where, node, "call " + ast.unparse(node.func))
    else:
        raise _refuse(where, node, "evaluate " + ast.unparse(node))
    for child in children:
        _static(child, where)


def _check_definition(node: ast.FunctionDef | ast.ClassDef, where: str) -> None:
    for deco in node.decorator_list:
        ok = isinstance(deco, ast.Name) and deco.id in _DECORATORS
        ok = ok or (isinstance(deco, ast.Attribute) and not isinstance(deco.value, ast.Call))
        if not ok:
            raise _refuse(where, deco, f"apply the decorator {ast.unparse(deco)}")
        _static(deco, where)
    if isinstance(node, ast.ClassDef):
        for base in (*node.bases, *(k.value for k in node.keywords)):
            _static(base, where)
        _check_body(node.body, where)
        return
    args = node.args
    for default in (*args.defaults, *args.kw_defaults):
        _static(default, where)
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if arg is not None:
            _static(arg.annotation, where)
    _static(node.returns, where)


def _check_body(body: list[ast.stmt], where: str) -> None:
    for stmt in body:
        if isinstance(stmt, ast.Pass) or (
            isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        ):
            continue
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else [stmt.module]
            for name in names:
                if isinstance(stmt, ast.ImportFrom) and stmt.level:
                    raise _refuse(where, stmt, "import relative to an unknown package")
                if (name or "").split(".")[0] not in _IMPORTS:
                    raise _refuse(where, stmt, f"import {name}")
        elif isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            _check_definition(stmt, where)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if not all(isinstance(t, ast.Name) for t in targets):
                raise _refuse(where, stmt, "assign to " + ast.unparse(targets[0]))
            _static(stmt.value, where)
        else:
            raise _refuse(where, stmt, "run " + ast.unparse(stmt).splitlines()[0][:60])


def check_declarative_source(source: str, where: str = "a class") -> set[str]:
    """Check that ``source`` only defines things; return the names of its top-level classes.

    Admitted at module and class level: docstrings, imports of :data:`_IMPORTS`, function and
    class definitions, assignments of literals. Default values, base classes, annotations and
    assigned values may only look names up, build literals and call ``dict``/``float``/``list``/
    ... (which the source must not rebind); decorators are ``staticmethod``/``classmethod``/
    ``property`` or attributes of imported modules (``persistence.persistent_class``).

    Parameters
    ----------
    source : str
        The module source embedded in a persistent object.
    where : str
        What the source belongs to, for the error message.

    Returns
    -------
    set of str

    Raises
    ------
    UnsafePickleError
        Naming the line and what it would do.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise UnsafePickleError(
            f"the module source embedded for {where} does not parse ({err})"
        ) from None
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add(node.asname or node.name.split(".")[0])
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
    rebound = sorted(bound & (_CALLS | _DECORATORS))
    if rebound:
        raise UnsafePickleError(f"the module source embedded for {where} rebinds {rebound}")
    _check_body(tree.body, where)
    return {node.name for node in tree.body if isinstance(node, ast.ClassDef)}


def load_edm_pickle(data: bytes, where: str) -> Any:
    """Unpickle an EDM network pickle into :class:`Record` objects and tensors.

    Parameters
    ----------
    data : bytes
        The file's content.
    where : str
        Its name, for error messages.

    Returns
    -------
    object
        Usually ``{"ema": Record, "loss_fn": Record, "augment_pipe": Record or None,
        "dataset_kwargs": dict}``.

    Raises
    ------
    UnsafePickleError
        For a global outside :data:`EDM_GLOBALS`, a persistent id, or an embedded source that
        would run code; the message names ``where``.
    """
    try:
        return restricted_loads(data, EDM_GLOBALS, where)
    except UnsafePickleError as err:
        message = str(err)
        raise UnsafePickleError(
            message if message.startswith(where) else f"{where}: {message}"
        ) from None
