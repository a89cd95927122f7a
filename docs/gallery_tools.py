"""Hooks of the example gallery (imported by name from ``conf.py``, so Sphinx can cache them).

The fast Koopman examples run at build time with reduced settings of the same code paths; they
save their figures as PNG files and close them, so the gallery collects those files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: Where the executed examples write (their ``--out``), inside the build folder.
GALLERY_OUT = Path(__file__).resolve().parent / "_build" / "gallery-runs"

#: Reduced settings of the same code paths, so that the docs build stays short on two cores.
ARGS = {
    "02_pendulum_koopman_autoencoder.py": ["--quick", "--no-progress"],
    "03_representability.py": ["--kae-steps", "300"],
    "15_vampnets.py": ["--epochs", "3"],
}


def gallery_argv(gallery_conf, script_vars) -> list[str]:
    """Command-line arguments of an executed example: its output folder and reduced settings."""
    name = Path(script_vars["src_file"]).name
    return ["--out", str(GALLERY_OUT / Path(name).stem), *ARGS.get(name, [])]


def saved_figures(block, block_vars, gallery_conf) -> str:
    """Image scraper: the PNG files the example wrote into its ``--out`` folder so far."""
    from sphinx_gallery.scrapers import figure_rst

    out = GALLERY_OUT / Path(block_vars["src_file"]).stem
    seen = block_vars.setdefault("koopkit_seen", set())
    images = []
    for png in sorted(out.rglob("*.png")) if out.is_dir() else []:
        if png not in seen:
            seen.add(png)
            target = next(block_vars["image_path_iterator"])
            shutil.copyfile(png, target)
            images.append(target)
    return figure_rst(images, gallery_conf["src_dir"])
