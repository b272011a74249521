"""Sphinx configuration of hjqp's documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` (``pip install
".[docs]"``). Two sets of pages are written at build time, into
``docs/_generated/``: the command line reference, from the ``hjqp``
command's own argument parser, and the gallery, one page per script of
``examples/`` with its docstring, its source and the figures that
``python docs/make_gallery.py`` wrote for it into ``docs/gallery/``.
"""

import ast
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import hjqp  # noqa: E402

project = "hjqp"
author = "the hjqp developers"
copyright = "the hjqp developers"
release = hjqp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated/cli_commands.rst"]
autosummary_generate = True
autodoc_typehints = "none"
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
myst_enable_extensions = ["dollarmath"]
html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "Freidlin-Wentzell quasi-potentials", "page_width": "1100px"}
nitpicky = False

GENERATED = os.path.join(HERE, "_generated")


def _write(path: str, text: str) -> None:
    """Write only when the text changes (Sphinx rebuilds what is touched)."""
    if os.path.exists(path) and open(path).read() == text:
        return
    with open(path, "w") as fh:
        fh.write(text)


def _indent(text: str, by: str = "   ") -> str:
    return "\n".join(by + line if line.strip() else "" for line in text.splitlines())


def write_cli() -> None:
    """One section per subcommand, from the parser the command uses."""
    import argparse

    from hjqp import cli

    parser = cli._parser()
    parser.prog = "hjqp"
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = [".. This file is written by conf.py from hjqp.cli; do not edit.\n"]
    out += ["``hjqp --help``", "-" * 15, "", "::", "", _indent(parser.format_help()), ""]
    for name, q in sub.choices.items():
        q.prog = f"hjqp {name}"
        title = f"``hjqp {name}``"
        out += [title, "-" * len(title), "", "::", "", _indent(q.format_help()), ""]
    _write(os.path.join(GENERATED, "cli_commands.rst"), "\n".join(out))


def _example_doc(path: str):
    tree = ast.parse(open(path).read())
    doc = ast.get_docstring(tree) or ""
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest


def write_gallery() -> None:
    """A page per example, its figures from docs/gallery/<name>/."""
    examples = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "examples")) if f.endswith(".py"))
    index = [".. This file is written by conf.py from examples/; do not edit.", "", "Gallery", "=======", "",
             "Every script of ``examples/`` runs in the test suite at a small size; the figures here",
             "come from ``python docs/make_gallery.py``, which runs each at the size given there.", "",
             ".. toctree::", "   :maxdepth: 1", ""]
    for name in examples:
        title, rest = _example_doc(os.path.join(ROOT, "examples", f"{name}.py"))
        index.append(f"   gallery_{name}")
        page = [f".. This file is written by conf.py from examples/{name}.py; do not edit.", "",
                f".. _gallery-{name}:", "", f"{name}.py", "=" * (len(name) + 3), "", f"*{title}*", "",
                "::", "", _indent(rest.strip() or title), ""]
        figures = os.path.join(HERE, "gallery", name)
        for png in sorted(os.listdir(figures)) if os.path.isdir(figures) else []:
            if png.endswith(".png"):
                page += [f".. figure:: /gallery/{name}/{png}", "   :width: 100%", "",
                         f"   ``{png}``", ""]
        page += ["Source", "------", "", f".. literalinclude:: /../examples/{name}.py", "   :language: python", ""]
        _write(os.path.join(GENERATED, f"gallery_{name}.rst"), "\n".join(page))
    _write(os.path.join(GENERATED, "gallery_index.rst"), "\n".join(index) + "\n")


def setup(app):
    os.makedirs(GENERATED, exist_ok=True)
    write_cli()
    write_gallery()
