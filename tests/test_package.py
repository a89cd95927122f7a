"""Package-level contracts: cheap import, one-way import arrow, lazy public names."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_core_never_imports_diffusion_package():
    offenders = []
    for path in (ROOT / "koopkit").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path}: {n}" for n in names if n.split(".")[0] == "koopkit_diffusion"]
    assert offenders == []


def test_import_koopkit_does_not_import_torch():
    code = "import sys, koopkit; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_attribute_gives_attribute_error():
    import koopkit

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        koopkit.nope  # noqa: B018


@pytest.mark.parametrize("package", ["koopkit", "koopkit.analysis", "koopkit_diffusion"])
def test_every_lazily_listed_public_name_resolves(package):
    import importlib

    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if getattr(module, name, None) is None]
    assert missing == []
