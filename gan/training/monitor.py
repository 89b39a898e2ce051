"""Logging during training: rank 0's ``log.jsonl`` and progress bar, on-device running means."""

from __future__ import annotations

import math
import time

import torch

from gan import _dist, rundir
from gan.losses import GANLoss
from gan.reporting import JSONLWriter
from gan.training.state import Nets, Run, TrainingDiverged

__all__ = ["Monitor", "StepScalars"]


class StepScalars:
    """Each step's logits and losses, kept on the device until the next sync point.

    A step only appends references; :meth:`means` turns the interval into the logged means in a
    few batched operations, where a running sum cost about 20 small operations per step. Every
    :class:`~gan.losses.GANLoss` estimate is a mean of per-sample terms, so on the interval's
    stacked logits it equals the mean of the per-step estimates (steps have equal batches).
    """

    def __init__(self) -> None:
        self.rows: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def add(self, logit_r, logit_f, loss_d, loss_g) -> None:
        """One step's detached tensors (no operation on them here)."""
        self.rows.append((logit_r, logit_f, loss_d, loss_g))

    def means(self, loss: GANLoss, reduce=None) -> dict[str, float]:
        """The interval's means (``reduce`` averages the stacked means over processes), then reset.

        One host synchronisation for all values.
        """
        if not self.rows:
            return {}
        r, f, ld, lg = zip(*self.rows, strict=True)
        self.rows = []
        if len({t.shape for t in r}) == 1 and len({t.shape for t in f}) == 1:
            r_all, f_all = torch.stack(r).float(), torch.stack(f).float()
            est = loss.estimate(r_all.reshape(-1), f_all.reshape(-1))
            if loss.logistic:
                r_all, f_all = torch.sigmoid(r_all), torch.sigmoid(f_all)
            d_real, d_fake = r_all.mean(), f_all.mean()
        else:  # batches of other sizes: each step's means, then their mean
            act = torch.sigmoid if loss.logistic else (lambda t: t)
            est = torch.stack(
                [loss.estimate(a.float(), b.float()) for a, b in zip(r, f, strict=True)]
            )
            d_real = torch.stack([act(a.float()).mean() for a in r]).mean()
            d_fake = torch.stack([act(b.float()).mean() for b in f]).mean()
        stacked = torch.stack([torch.stack(ld).float().mean(), torch.stack(lg).float().mean(),
                               d_real, d_fake, est.mean()])  # fmt: skip
        if reduce is not None:
            stacked = reduce(stacked)
        keys = ("loss_d", "loss_g", "d_real", "d_fake", loss.estimate_name)
        return dict(zip(keys, stacked.tolist(), strict=True))


class Monitor:
    """Rank 0's log and progress bar, and the on-device running means (sync point 1).

    Args:
        run: the run (its directory, configuration and rank).
        step: the step the run starts from (0, or a resumed checkpoint's).
    """

    def __init__(self, run: Run, step: int):
        self.acc, self.log, self.bar, self.times = StepScalars(), None, None, []
        self.t_last, self.step_last = time.perf_counter(), step
        if run.rank == 0:
            tb = run.run_dir / "tensorboard" if run.cfg.tensorboard else None
            self.log = JSONLWriter(run.run_dir / rundir.LOG, tb)
            if run.cfg.progress:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=run.cfg.steps, initial=step, desc="train",
                                dynamic_ncols=True)  # fmt: skip

    def add(self, loss: GANLoss, logit_r, logit_f, loss_d, loss_g) -> None:
        """Keep one step's logits and losses on the device (no sync, no operation)."""
        self.acc.add(logit_r, logit_f, loss_d, loss_g)

    def sync(self, run: Run, nets: Nets, step: int) -> bool:
        """One host sync: means over ranks, a finiteness check, a log line, the bar.

        Returns False for non-finite values when the watchdog is on (it then decides);
        without it they raise :class:`~gan.training.TrainingDiverged`.
        """
        values = self.acc.means(run.loss, reduce=_dist.all_reduce_mean)
        now = time.perf_counter()
        self.times.append((now - self.t_last, step - self.step_last))
        self.t_last, self.step_last = now, step
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad and run.cfg.watchdog:
            return False
        if bad:
            raise TrainingDiverged(f"non-finite {', '.join(bad)} at step {step} (values "
                                   f"{values}); the last good checkpoint in {run.run_dir} "
                                   "was kept")  # fmt: skip
        if self.log is not None:
            sec = self.times[-1][0] / max(1, self.times[-1][1])
            lrs = {
                "lr_g": nets.opt_g.param_groups[0]["lr"],
                "lr_d": nets.opt_d.param_groups[0]["lr"],
            }
            self.log.write({"kind": "train", "step": step, **values, **lrs, "sec_per_step": sec})
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3f}" for k, v in values.items()}, refresh=False)
            self.bar.update(step - self.bar.n)
        return True

    def rewind(self, step: int) -> None:
        """After a rollback to ``step``: drop the running means, restart the timer and bar."""
        self.acc = StepScalars()
        self.t_last, self.step_last = time.perf_counter(), step
        if self.bar is not None:
            self.bar.n = step
            self.bar.refresh()

    def seconds_per_step(self) -> float:
        """Mean wall time per step over the logged intervals."""
        return sum(t for t, _ in self.times) / max(1, sum(n for _, n in self.times))

    def close(self) -> None:
        """Close the progress bar and the log."""
        if self.bar is not None:
            self.bar.close()
        if self.log is not None:
            self.log.close()
