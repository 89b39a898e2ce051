"""The run's device and its process-wide torch settings, restored when the run ends."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from gan.config import TrainConfig

__all__ = ["global_settings", "pick_device"]


def pick_device(name: str) -> torch.device:
    """``auto`` → CUDA if available, else CPU; ``cuda`` without CUDA is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but CUDA is not available; use device='auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


@contextlib.contextmanager
def global_settings(cfg: TrainConfig, device: torch.device) -> Iterator[None]:
    """Apply the run's process-wide torch settings; restore the previous ones on exit.

    Covers deterministic algorithms (and their warn-only flag), cuDNN autotuning and
    determinism, TF32 matmuls, float32 matmul precision, the CPU thread count and the
    ``CUBLAS_WORKSPACE_CONFIG`` variable, so that a caller's settings survive a run, an
    exception included. ``cfg.threads`` also limits the BLAS libraries' threads (scipy's, in
    the evaluation's statistics) for the run.

    Example:
        >>> before = torch.get_num_threads()
        >>> with global_settings(TrainConfig(threads=1), torch.device("cpu")):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.get_float32_matmul_precision(),
        torch.get_num_threads(),
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    blas = contextlib.ExitStack()
    try:
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
            from threadpoolctl import threadpool_limits  # scipy's BLAS in the evaluation too

            blas.enter_context(threadpool_limits(cfg.threads))
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
            torch.use_deterministic_algorithms(True, warn_only=False)
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        blas.close()
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2:4]
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[4:6]
        torch.set_float32_matmul_precision(saved[6])
        torch.set_num_threads(saved[7])
        if saved[8] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[8]
