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

#: Bottom to top: a module may import its own wing and the wings below it, never one above.
WINGS = (
    "safe_pickle",
    "edm",
    "teacher",
    "data",
    "pairs",
    "kdm",
    "trainer",
    "evaluation",
    "runs",
    "commands",
    "cli",
)
DIFFUSION = ROOT / "koopkit_diffusion"


def _wing(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "koopkit_diffusion" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: pathlib.Path) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
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


def _edges():
    for path in sorted(DIFFUSION.rglob("*.py")):
        rel = path.relative_to(DIFFUSION)
        if rel.parts == ("__init__.py",):
            continue  # the package top only maps public names lazily
        source = rel.parts[0].removesuffix(".py")
        for name in _imports(path):
            target = _wing(name)
            if target in WINGS and target != source:
                yield path.relative_to(ROOT), source, target


def test_every_module_belongs_to_a_wing():
    stray = [
        p.relative_to(ROOT)
        for p in DIFFUSION.rglob("*.py")
        if p.relative_to(DIFFUSION).parts != ("__init__.py",)
        and p.relative_to(DIFFUSION).parts[0].removesuffix(".py") not in WINGS
    ]
    assert stray == []


def test_no_import_climbs_up_a_wing():
    climbs = [
        f"{path}: {source} → {target}"
        for path, source, target in _edges()
        if WINGS.index(target) > WINGS.index(source)
    ]
    assert climbs == []


@pytest.mark.parametrize("wing", ["safe_pickle", "edm"])
def test_bottom_wings_import_nothing_else_of_the_package(wing):
    assert [f"{p} → {t}" for p, s, t in _edges() if s == wing] == []


@pytest.mark.parametrize("wing", ["kdm", "teacher", "pairs"])
def test_models_and_pairs_never_import_runs_evaluation_or_commands(wing):
    bad = [
        f"{p} → {t}"
        for p, s, t in _edges()
        if s == wing and t in ("runs", "evaluation", "commands")
    ]
    assert bad == []


def test_only_the_cli_imports_commands():
    assert [f"{p}" for p, s, t in _edges() if t == "commands" and s != "cli"] == []
    tests_and_scripts = [
        p.relative_to(ROOT)
        for folder in ("examples", "benchmarks")
        for p in (ROOT / folder).rglob("*.py")
        if any(n.startswith("koopkit_diffusion.commands") for n in _imports(p))
    ]
    assert tests_and_scripts == []


def test_no_module_passes_500_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for folder in ("koopkit", "koopkit_diffusion")
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}


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
        "koopkit_diffusion.kdm.model",
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
