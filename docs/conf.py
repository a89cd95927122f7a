"""Sphinx configuration for koopkit."""

import sys
from pathlib import Path

project = "koopkit"
author = "the koopkit developers"
copyright = "2026, the koopkit developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax from the build, not a CDN: math renders offline
    "sphinx.ext.viewcode",
    "sphinxarg.ext",  # the CLI reference, generated from the parser
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]

# --------------------------------------------------------------------------- example gallery
# The fast Koopman examples run at build time (their figures and printed numbers appear on the
# page); the long diffusion examples are shown with the figures and numbers they saved when they
# were run (their docstrings link them), not executed. Hooks: docs/gallery_tools.py.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "within_subsection_order": "FileNameSortKey",  # 01, 02, ... as in the README
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/0[1-3]_|/08_|/09_|/1[3-5]_",
    "reset_argv": "gallery_tools.gallery_argv",
    "image_scrapers": ("gallery_tools.saved_figures",),
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    "write_computation_times": False,  # its page loads scripts from a CDN
}
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
# Grouped parameters ("w_latent, w_rec : float") stay one entry instead of one copy per name.
napoleon_use_param = False

html_theme = "furo"
html_title = "koopkit"
html_static_path = []

# NumPy docstrings write types like "ndarray of shape (n, label_dim)": the type parser turns every
# word into a cross-reference, so "shape" or "label_dim" would link to whichever attribute of that
# name the API has (``PairDataset.shape``, ...). In a type, a bare lower-case word that is not a
# builtin type is prose: it stays plain text.
_LOWERCASE_TYPES = {
    "int", "float", "complex", "str", "bool", "bytes", "dict", "list", "tuple", "set", "object",
    "callable", "type", "slice", "range", "ndarray", "iterable", "sequence", "mapping",
}  # fmt: skip


def _unlink_prose_in_types(app, doctree):
    from docutils import nodes
    from sphinx.addnodes import pending_xref

    for ref in list(doctree.findall(pending_xref)):
        target = ref.get("reftarget", "")
        if (
            ref.get("refdomain") == "py"
            and ref.get("reftype") in ("class", "obj")
            and "." not in target
            and target[:1].islower()
            and target not in _LOWERCASE_TYPES
        ):
            ref.replace_self(nodes.Text(ref.astext()))


def setup(app):
    app.connect("doctree-read", _unlink_prose_in_types)
