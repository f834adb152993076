"""Sphinx configuration of nbchannel's documentation.

Build it (the ``docs`` extra installs what it needs)::

    pip install -e ".[docs]"
    sphinx-build -W --keep-going -b html docs docs/_build/html

Pages are Markdown (MyST); the example notebooks (``docs/notebooks`` links to the repository's
``notebooks/``) are rendered as saved, never executed; the API reference is read from the
package's docstrings and the server extension's configuration from its traits.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

from nbchannel import __version__  # noqa: E402

project = "nbchannel"
author = "nbchannel contributors"
copyright = "nbchannel contributors"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "myst_nb",  # Markdown pages (it loads myst-parser) and notebooks
    "nbchannel_docs",  # docs/_ext: the c.NbChannel.* list, member filter, __all__ check
]

exclude_patterns = [
    "_build",
    "jupyter_execute",
    "**/.ipynb_checkpoints",
    # Its table is included by examples.md, next to the notebooks it describes.
    "notebooks/README.md",
]

# -- Markdown and notebooks -------------------------------------------------------------

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
# Notebooks are shown with the outputs they were saved with: building the docs runs no kernel.
nb_execution_mode = "off"

# -- API reference ----------------------------------------------------------------------

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_class_signature = "mixed"
# Long signatures (widgets take many keyword arguments) get one parameter per line.
maximum_signature_line_length = 88
# Every name in these modules' __all__ must be documented somewhere (docs/_ext).
nbchannel_public_modules = ["nbchannel", "nbchannel.widgets"]

# -- HTML -------------------------------------------------------------------------------

html_theme = "furo"
html_title = f"nbchannel {release}"
html_static_path: list[str] = []
