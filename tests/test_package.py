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


# --------------------------------------------------------------- the wings of koopkit_diffusion

#: Who may import whom inside koopkit_diffusion (every wing may import the core, ``koopkit``, and
#: itself). The trainer trains any ``nn.Module`` with a ``losses`` method and knows nothing of
#: diffusion; models, pairs and data stand on EDM's pieces and the restricted unpickler;
#: evaluation scores what it is handed; only ``runs`` wires run folders to all of them, and only
#: the command line calls ``commands``.
ALLOWED_IMPORTS = {
    "_version": set(),
    "safe_pickle": set(),
    "edm": set(),
    "trainer": set(),
    "teacher": {"edm", "safe_pickle"},
    "students": {"edm", "safe_pickle"},
    "pairs": {"edm", "safe_pickle"},
    "data": {"edm", "safe_pickle"},
    "evaluation": {"edm", "data"},
    "runs": {
        "_version",
        "safe_pickle",
        "edm",
        "trainer",
        "teacher",
        "students",
        "pairs",
        "data",
        "evaluation",
    },
    "commands": {"runs"},
    "cli": {"commands", "_version"},
}
DIFFUSION = ROOT / "koopkit_diffusion"


def _wing(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "koopkit_diffusion" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: pathlib.Path, top: pathlib.Path = ROOT) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved against the
    folder ``top`` that holds the package)."""
    package = ".".join(path.relative_to(top).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.rsplit(".", 1)[0] + ".__init__"
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: -node.level]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            out.append(name)
            out += [f"{name}.{alias.name}" for alias in node.names]  # `from pkg import module`
    return out


def _edges(root: pathlib.Path = DIFFUSION):
    """``(file, its wing, the wing it imports)`` for every import between two wings."""
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts == ("__init__.py",):
            continue  # the package top only maps public names lazily
        source = rel.parts[0].removesuffix(".py")
        for name in _imports(path, root.parent):
            target = _wing(name)
            if target is not None and target != source and name != "koopkit_diffusion":
                yield path.relative_to(root.parent), source, target


def _forbidden(root: pathlib.Path = DIFFUSION) -> list[str]:
    return sorted(
        {
            f"{path}: {source} → {target}"
            for path, source, target in _edges(root)
            if target not in ALLOWED_IMPORTS.get(source, set())
        }
    )


def test_every_module_belongs_to_a_wing_of_the_table():
    stray = [
        p.relative_to(ROOT)
        for p in DIFFUSION.rglob("*.py")
        if p.relative_to(DIFFUSION).parts != ("__init__.py",)
        and p.relative_to(DIFFUSION).parts[0].removesuffix(".py") not in ALLOWED_IMPORTS
    ]
    assert stray == []


def test_every_import_between_wings_is_in_the_table():
    assert _forbidden() == []


def test_the_table_catches_a_forbidden_import(tmp_path):
    """The check can fail: a copy of the package where the trainer imports the students."""
    import shutil

    copy = tmp_path / "koopkit_diffusion"
    shutil.copytree(DIFFUSION, copy, ignore=shutil.ignore_patterns("__pycache__"))
    loop = copy / "trainer" / "loop.py"
    loop.write_text("from koopkit_diffusion.students import KDM  # noqa\n" + loop.read_text())
    assert _forbidden(copy) == ["koopkit_diffusion/trainer/loop.py: trainer → students"]


def test_only_the_cli_imports_commands():
    assert [f"{p}" for p, s, t in _edges() if t == "commands" and s != "cli"] == []
    tests_and_scripts = [
        p.relative_to(ROOT)
        for folder in ("examples", "benchmarks")
        for p in (ROOT / folder).rglob("*.py")
        if any(n.startswith("koopkit_diffusion.commands") for n in _imports(p))
    ]
    assert tests_and_scripts == []


def test_the_main_classes_are_importable_from_the_package_top():
    code = (
        "import sys\n"
        "import koopkit_diffusion\n"
        "assert 'torch' not in sys.modules, 'import koopkit_diffusion must stay light'\n"
        "from koopkit_diffusion import (KDM, KDMConfig, KDBaseline, Teacher, load_teacher,\n"
        "    PairDataset, Trainer, TrainerConfig, get_preset)\n"
        "print(KDM.__module__, Teacher.__module__, get_preset.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [
        "koopkit_diffusion.students.kdm",
        "koopkit_diffusion.teacher.model",
        "koopkit_diffusion.runs.presets",
    ]


def test_no_reference_to_design_notes_outside_the_repository():
    hits = [
        str(p.relative_to(ROOT))
        for folder in ("koopkit", "koopkit_diffusion", "docs", "examples", "benchmarks")
        for p in (ROOT / folder).rglob("*")
        if p.suffix in (".py", ".md", ".rst")
        and not {"_build", "auto_examples"} & set(p.parts)  # generated
        and any(ref in p.read_text() for ref in ("DESIGN §", "DESIGN's", "design notes"))
    ]
    assert hits == []


def _function_local_project_imports(root: pathlib.Path) -> list[tuple[pathlib.Path, int, str]]:
    """``(file, line, source line)`` of every import of the project inside a function."""
    found = []
    for path in sorted(root.rglob("*.py")):
        lines = path.read_text().splitlines()
        for fn in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.ImportFrom):
                    names = [("." * node.level) + (node.module or "")]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                else:
                    continue
                if any(n.startswith((".", "koopkit")) for n in names):
                    found.append((path, node.lineno, lines[node.lineno - 1]))
    return sorted(set(found))


def test_project_imports_are_at_module_level_except_in_the_command_line():
    """Function-local imports of the project hide the import graph; outside the command line
    (whose start-up stays fast by importing a command's code only when it runs) at most 15 are
    allowed, each saying why on its line."""
    local = [
        (path.relative_to(ROOT), line, text.strip())
        for path, line, text in _function_local_project_imports(DIFFUSION)
        if path.name != "cli.py" and "commands" not in path.relative_to(DIFFUSION).parts
    ]
    assert len(local) <= 15
    assert [entry for entry in local if "#" not in entry[2]] == []


def test_the_package_top_lists_exactly_its_lazy_names():
    import koopkit_diffusion

    lazy = set(koopkit_diffusion._SUBMODULES) | set(koopkit_diffusion._ATTRIBUTES)
    assert set(koopkit_diffusion.__all__) == lazy | {"__version__"}
    # the names IDEs see (the TYPE_CHECKING block) are the lazy attributes
    tree = ast.parse((DIFFUSION / "__init__.py").read_text())
    checked = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING"
        for imp in node.body
        for alias in imp.names
    }
    assert checked == set(koopkit_diffusion._ATTRIBUTES)
