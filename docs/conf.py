"""Sphinx configuration of the deepclust documentation.

Build (offline, warnings are errors), from the repository root::

    .venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html

The gallery scripts in ``examples/`` named ``plot_*.py`` are executed (on the CPU, a few
minutes in all); other scripts are rendered without running. Set ``DEEPCLUST_DOCS_FULL=1``
to execute every script, or ``DEEPCLUST_DOCS_PLOT=0`` to skip execution altogether.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import deepclust  # noqa: E402

# One torch thread: the timings printed by the gallery are from one thread, and a docs
# build should not fight other jobs for cores. DEEPCLUST_DOCS_THREADS overrides it.
try:
    import torch  # noqa: E402

    torch.set_num_threads(int(os.environ.get("DEEPCLUST_DOCS_THREADS", "1")))
except ImportError:  # pragma: no cover
    pass

project = "deepclust"
author = "deepclust developers"
copyright = "deepclust developers"
release = deepclust.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    # results.md (written by the benchmark suite) is included into benchmarks.rst when present.
    "results.md",
    "auto_examples/*.ipynb",
    "auto_examples/*.py",
    "auto_examples/*.zip",
    "auto_examples/*.json",
    "auto_examples/*.md5",
]

# -- autodoc / autosummary / numpydoc -------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

myst_enable_extensions = ["dollarmath"]
# results.md and performance.md are written by the benchmark scripts; they name repository
# files outside docs/ as plain paths, not links, so every MyST link must resolve (no
# warning is suppressed).
myst_heading_anchors = 3

# No intersphinx: the build must work offline. References to scikit-learn, NumPy and
# torch objects are written as plain literals.

# -- sphinx-gallery -------------------------------------------------------------------
_full = os.environ.get("DEEPCLUST_DOCS_FULL", "0") == "1"
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    # plot_*.py run in the default build; other scripts (quickstart.py: 100 epochs, several
    # minutes on a CPU) are shown without output unless DEEPCLUST_DOCS_FULL=1.
    "filename_pattern": r"/" if _full else r"/plot_",
    "ignore_pattern": r"__init__\.py|/_",
    "plot_gallery": os.environ.get("DEEPCLUST_DOCS_PLOT", "True"),
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "show_memory": False,
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "capture_repr": ("_repr_html_",),
    "doc_module": ("deepclust",),
    "backreferences_dir": "generated/backreferences",
}

# -- HTML -----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"deepclust {release}"
html_static_path = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "header_links_before_dropdown": 8,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "benchmarks": [], "performance": []}
html_show_sourcelink = False


def _include_results(app, docname, source):
    """Append docs/results.md (if the benchmark suite has written it) to benchmarks.rst."""
    if docname != "benchmarks":
        return
    results = DOCS / "results.md"
    if results.exists():
        source[0] += "\n\n.. include:: results.md\n   :parser: myst_parser.sphinx_\n"
    else:
        source[0] += (
            "\n\n.. note::\n\n   ``docs/results.md`` has not been generated in this checkout; "
            "run the benchmark suite (``benchmarks/``) and rebuild the docs to see the table here.\n"
        )


def setup(app):
    app.connect("source-read", _include_results)
