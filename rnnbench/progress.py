"""What a run prints while it trains: progress lines or bars, evaluation progress, and its projected wall time."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

import torch


class EvaluationProgress:
    """Per-batch evaluation progress: a transient tqdm bar on a terminal; in log files a line with the ETA at
    most every ``every_s`` seconds (short evaluations print nothing)."""

    def __init__(self, split: str, total: int | None, every_s: float = 10.0):
        self.split, self.total, self.every_s, self.done = split, total, every_s, 0
        self.start = self.last_line = time.perf_counter()
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, desc=f"eval {split}", unit="batch", leave=False, dynamic_ncols=True)

    def update(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update()
            return
        now = time.perf_counter()
        if now - self.last_line >= self.every_s:
            elapsed = now - self.start
            eta = f", ETA {elapsed / self.done * (self.total - self.done):.0f} s" if self.total else ""
            print(f"  eval {self.split}: batch {self.done}/{self.total or '?'}, {elapsed:.0f} s{eta}", flush=True)
            self.last_line = now

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Progress:
    """A tqdm bar on a terminal; one plain line per log point in log files."""

    def __init__(self, total: int, start: int, enabled: bool):
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=start, dynamic_ncols=True, leave=True)
        self.enabled, self.total, self.last = enabled, total, start

    def update(self, step: int, summary: dict[str, float]) -> None:
        text = "  ".join(f"{k.split('/')[-1] if k.startswith('train/') else k} {v:.4g}"
                         for k, v in summary.items())
        if self.bar is not None:
            self.bar.update(step - self.last)
            self.bar.set_postfix_str(text, refresh=False)
        elif self.enabled:
            print(f"step {step}/{self.total}  {text}", flush=True)
        self.last = step

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class WallTimeProjection:
    """The projected wall time of a run, printed once ``timing_steps`` steps after the first (which pays for
    warm-up) are timed: the time per step, one full evaluation estimated from one timed batch per split
    (``estimate_evaluation``, called then), and the remaining steps and evaluations together. On a CPU, a run
    projected over :data:`LONG_RUN_S`, or one whose evaluations would take longer than its training (a smoke run),
    gets one more line naming the ways to shorten it. After the next evaluation, the projection again with that
    evaluation's measured time."""

    def __init__(self, start: int, total: int, eval_every: int, timing_steps: int, device: torch.device,
                 estimate_evaluation: Callable[[], float]):
        self.start, self.total, self.eval_every, self.timing_steps = start, total, eval_every, timing_steps
        self.device, self.estimate_evaluation = device, estimate_evaluation
        self.step_s, self.timer, self.done = None, None, False

    def _now(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def evaluations_after(self, step: int) -> int:
        return self.total // self.eval_every - step // self.eval_every + (self.total % self.eval_every != 0)

    def after_step(self, step: int) -> None:
        if step == self.start + 1:
            self.timer = self._now()
        elif step == self.start + 1 + self.timing_steps:
            self.step_s = (self._now() - self.timer) / self.timing_steps
            evaluation_s = self.estimate_evaluation()
            train_s, evaluations = self.step_s * (self.total - step), self.evaluations_after(step)
            rest = train_s + evaluation_s * evaluations
            print(f"timing: {self.step_s * 1e3:.1f} ms/step, one evaluation ≈ {evaluation_s:.1f} s (one batch per "
                  f"split timed); {self.total - step} steps and {evaluations} evaluations to go ≈ "
                  f"{rest / 60:.1f} min", flush=True)
            advice = long_run_advice(rest, evaluation_s * evaluations, train_s, self.device)
            if advice:
                print(advice, flush=True)

    def after_evaluation(self, step: int, seconds: float) -> None:
        if self.step_s is not None and not self.done and step < self.total:
            self.done = True
            rest = self.step_s * (self.total - step) + seconds * self.evaluations_after(step)
            print(f"timing: evaluation {seconds:.1f} s; projected time to finish ≈ {rest / 60:.1f} min", flush=True)


LONG_RUN_S = 3600.0


def long_run_advice(total_s: float, evaluation_s: float, train_s: float, device: torch.device) -> str | None:
    """One line with the ways to shorten a CPU run projected over an hour, or one that mostly evaluates."""
    if device.type != "cpu":
        return None
    if total_s > LONG_RUN_S:
        return (f"note: ≈ {total_s / 60:,.0f} min on this CPU. To shorten it: trainer.max_steps=N (a smaller budget), "
                "the table's cpu scale (+experiment=<table>/cpu, `make reproduce TABLE=<table> SCALE=cpu`), "
                "trainer.eval_max_batches=N (a smoke run), device=cuda on a GPU, or hydra/launcher=slurm -m "
                "on a cluster (docs/cluster.md).")
    if evaluation_s > max(train_s, 60.0):
        return (f"note: evaluations (≈ {evaluation_s / 60:.1f} min) outweigh training (≈ {train_s / 60:.1f} min): "
                "trainer.eval_max_batches=1 for a smoke run, or a larger trainer.eval_every.")
    return None
