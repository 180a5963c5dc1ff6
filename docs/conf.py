"""Sphinx configuration for fastconv's documentation.

Build (from the repository root; warnings are errors, as in CI):

    pip install -e ".[docs]" && python -m sphinx -W --keep-going -b html docs docs/_build/html
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

import fastconv  # noqa: E402

project = "fastconv"
author = "the fastconv authors"
copyright = "the fastconv authors"
version = release = fastconv.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_generated/*.txt", "performance/*/*.json"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# The optional peers: fastconv.torch and fastconv.dask import them at module level. Where one
# is not installed, autodoc documents the module against a stand-in (no warning, no failure).
autodoc_mock_imports = [name for name in ("torch", "dask", "distributed")
                        if importlib.util.find_spec(name) is None]
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"          # the numpydoc Parameters sections say the types
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set = set()


html_theme = "pydata_sphinx_theme"
html_title = f"fastconv {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
# the performance pages hold wide tables: no section navigation beside them (the other pages
# keep the theme's default)
html_sidebars = {"performance/*": []}
html_static_path = ["_static"]
html_css_files = ["fastconv.css"]


def write_cli_help(app) -> None:
    """docs/_generated/cli-*.txt: the help text of `fastconv` and each subcommand, taken from
    the parser itself, so the CLI page cannot drift from the code."""
    from fastconv import cli

    out = os.path.join(app.srcdir, "_generated")
    os.makedirs(out, exist_ok=True)
    os.environ["COLUMNS"] = "100"
    parser = argparse.ArgumentParser(prog="fastconv", description=cli.__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    texts = {}
    for name, command in cli.COMMANDS.items():
        p = sub.add_parser(name, help=command.help)
        command.add_arguments(p)
        texts[name] = p.format_help()
    texts["main"] = parser.format_help()
    for name, text in texts.items():
        path = os.path.join(out, f"cli-{name}.txt")
        old = open(path).read() if os.path.exists(path) else None
        if old != text:  # rewrite only on change: Sphinx rebuilds what depends on it
            with open(path, "w") as f:
                f.write(text)


def setup(app):
    app.connect("builder-inited", write_cli_help)
