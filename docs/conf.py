"""Sphinx configuration for koopkit."""

project = "koopkit"
author = "the koopkit developers"
copyright = "2026, the koopkit developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False

html_theme = "furo"
html_title = "koopkit"

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
