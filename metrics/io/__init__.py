"""Reading and writing files: images, arrays, statistics, the cache, standard data sets.

- :mod:`metrics.io.images` — the one image-folder reader (sorted, streamed in batches,
  unreadable files skipped and counted), used by training data and evaluation alike;
- :mod:`metrics.io.arrays` — ``.npy``/``.npz``/``.pt`` arrays and samples of any source;
- :mod:`metrics.io.idx`, :mod:`metrics.io.datasets` — IDX files and MNIST / Fashion-MNIST;
- :mod:`metrics.io.atomic` — the one writer: atomic, modes from the umask, never clobbering;
- ``metrics.io.cache`` — statistics files (``load_stats_file``, ``save_stats_file``) and the
  cache of reference statistics, and ``metrics.io.reference`` — reference statistics computed
  from data (:func:`metrics.compute_stats`). These two build on :class:`metrics.FeatureStats`
  and the feature networks, so this package does not import them: it stays importable from
  the modules they use.
"""

from __future__ import annotations

from metrics.io import atomic, datasets
from metrics.io.arrays import is_stats_file, load_array, load_samples
from metrics.io.atomic import (
    append_text,
    atomic_open,
    check_writable,
    stale_temporaries,
    write_atomic,
)
from metrics.io.idx import read_idx
from metrics.io.images import (
    IMAGE_SUFFIXES,
    RESIZE_MODES,
    FolderInfo,
    folder_batches,
    image_files,
    read_images,
    scan_folder,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "RESIZE_MODES",
    "FolderInfo",
    "append_text",
    "atomic",
    "atomic_open",
    "check_writable",
    "datasets",
    "folder_batches",
    "image_files",
    "is_stats_file",
    "load_array",
    "load_samples",
    "read_idx",
    "read_images",
    "scan_folder",
    "stale_temporaries",
    "write_atomic",
]
