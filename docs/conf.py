"""Sphinx configuration of the documentation site (``make docs``)."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS / "_ext")]
# the gallery's examples run in this process: on the CPU, without a display, on one thread
# (they are small: more threads only contend with each other and with other jobs)
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("MPLBACKEND", "agg")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

import divergences  # noqa: E402

torch.set_num_threads(1)

project = "divergences"
author = "the divergences authors"
copyright = "the divergences authors, MIT licence"
release = divergences.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "public_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints", "auto_examples/*.ipynb"]
templates_path: list[str] = []

# -- API reference -----------------------------------------------------------------------
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the Google-style Args say what each argument is; "Any" says nothing
autodoc_preserve_defaults = True
autosummary_generate = False  # the pages are written by public_api from each __all__
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
napoleon_attr_annotations = True
napoleon_use_ivar = (
    True  # attributes inside the class entry: never a second entry beside a property
)
add_module_names = False
python_use_unqualified_type_names = True

# -- Markdown (the user guide) -----------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# -- Gallery: every example is executed at each build ------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "gallery_order.GalleryOrder",
    "download_all_examples": False,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "reset_modules": ("matplotlib", "seaborn"),
    "show_memory": False,
}
# torch prints nothing on import; silence matplotlib's backend chatter in examples
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

# -- HTML ---------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"divergences {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
