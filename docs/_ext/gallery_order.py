"""The gallery's reading order: from the mathematics to training (sphinx-gallery sort key)."""

from __future__ import annotations

#: Example files in the order the gallery shows them; others follow, by name.
ORDER = (
    "plot_fdiv_gaussians.py",
    "plot_inverse_cdf.py",
    "plot_chamfer_point_clouds.py",
    "plot_mmd_energy_shift.py",
    "plot_wasserstein.py",
    "plot_estimators.py",
    "plot_js_discriminator.py",
    "plot_fid_kid_digits.py",
    "plot_precision_recall.py",
    "plot_gan_ring8.py",
)


class GalleryOrder:
    """Sort key of sphinx-gallery's ``within_subsection_order`` (called with file names)."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        """The key of ``filename``: its place in :data:`ORDER`, then its name."""
        rank = ORDER.index(filename) if filename in ORDER else len(ORDER)
        return rank, filename
