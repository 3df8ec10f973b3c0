"""The training loop: steps, periodic evaluation, best-validation tracking, logging, checkpoints.

It knows only the task and model contracts (:mod:`rnnbench.contracts`):

    for step in range(start, total):
        batch = task.train_batch(step)                       # deterministic in (seed, step)
        outputs, state = net(batch, carried state or None)
        (task.loss(outputs, batch) + regularizer).backward()
        optimization.step(net)                               # clip, step, schedule
        at step 1 and every log_every: check for NaN/inf, log train/loss, train/regularizer, grad norm, steps/s
            (with train_metrics, also the task's metrics on the training batches since the last log point)
        every eval_every: evaluate val and test, track the best val/loss, checkpoint

Per-step losses stay on the device between log points (no host sync inside the loop). A NaN/inf loss or
gradient norm ends the run as ``diverged`` at the first bad step. SIGINT/SIGTERM save a checkpoint and
raise :class:`Interrupted`.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import signal
import time
from collections.abc import Sized
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from rnnbench import checkpoint as ckpt
from rnnbench.config_checks import positive_int, require
from rnnbench.contracts import TaskContract, missing_metrics
from rnnbench.optim import Optimization
from rnnbench.progress import EvaluationProgress, Progress, WallTimeProjection
from rnnbench.records import write_curves


class Interrupted(Exception):
    """Raised after a signal (its number in ``signum``), once the checkpoint is saved."""

    def __init__(self, signum: int, step: int):
        super().__init__(f"signal {signal.Signals(signum).name} at step {step}")
        self.signum = signum


class StepRecord(NamedTuple):
    """One training step's numbers, kept on the device until the next log point."""
    loss: torch.Tensor
    penalty: torch.Tensor | float
    grad_norm: torch.Tensor
    metrics: dict | None = None      # task.metrics on the training batch ({name: (sum, count)}), if asked for


@dataclass
class TrainerConfig:
    max_steps: int | None = None     # overrides the task's default budget
    epochs: int | None = None        # budget in epochs of task.steps_per_epoch steps (default: task.epochs)
    eval_every: int | str = 200      # steps between evaluations, or "epoch" (every task.steps_per_epoch steps)
    log_every: int = 50
    checkpoint_every: int = 1000     # steps between checkpoints (also saved at the end); 0 = never
    eval_test: bool = True           # evaluate the test split at every evaluation (for best-val → test)
    progress: bool = True
    compile: bool = False            # torch.compile the network
    detect_anomaly: bool = False     # torch.autograd anomaly detection (slow; for debugging)
    explosion_factor: float = 10.0   # a logged train loss above this × the first one flags the run as exploded
    eval_max_batches: int | None = None  # evaluate only this many batches per split (smoke runs; recorded)
    timing_steps: int = 5            # steps timed (after the first) for the projected wall time printed at start
    train_metrics: bool = False      # also log the task's metrics (e.g. accuracy) on the training batches

    def __post_init__(self):
        for name in ("max_steps", "epochs"):
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name))
        if self.eval_every != "epoch":
            require(isinstance(self.eval_every, int) and not isinstance(self.eval_every, bool)
                    and self.eval_every > 0, "eval_every", self.eval_every, "a positive integer or epoch")
        positive_int("log_every", self.log_every)
        if self.eval_max_batches is not None:
            positive_int("eval_max_batches", self.eval_max_batches)
        positive_int("timing_steps", self.timing_steps)
        require(isinstance(self.train_metrics, bool), "train_metrics", self.train_metrics, "true or false")
        require(isinstance(self.explosion_factor, (int, float)) and self.explosion_factor > 1, "explosion_factor",
                self.explosion_factor, "a number > 1")
        require(isinstance(self.checkpoint_every, int) and self.checkpoint_every >= 0, "checkpoint_every",
                self.checkpoint_every, "a non-negative integer")

    def total_steps(self, task: TaskContract) -> int:
        if self.max_steps is not None:
            return self.max_steps
        if self.epochs is not None:
            return self.epochs * task.steps_per_epoch
        return task.epochs * task.steps_per_epoch

    def eval_interval(self, task: TaskContract) -> int:
        return task.steps_per_epoch if self.eval_every == "epoch" else self.eval_every


@dataclass
class FitResult:
    status: str                      # completed | diverged
    step: int
    metrics: dict                    # last evaluation
    best: dict                       # evaluation at the best val/loss, with its step
    diverged_at: int | None = None
    rows: list = field(default_factory=list)


ENDS_ABOVE = 1.5   # a run whose last logged train loss is above this × its first ended worse than untrained


def explosion(rows: list[dict], factor: float) -> dict | None:
    """Where the run blew up, or None: the first log point whose mean train loss exceeds ``factor`` × the first
    logged one, else the last log point when it ends above ``ENDS_ABOVE`` × the first.

    A finite loss can still be useless: a run whose loss jumps orders of magnitude above where it started
    (gradient explosion) is not a result even if it ends ``completed``, or recovers; nor is one that training
    left worse than the untrained network without ever jumping that far (e.g. a norm-preserving recurrence whose
    carried state grows all epoch: PTB losses 4 → 23). A run that merely never learned ends near 1× its first
    loss (≤ 1.19× measured, binary tasks at ln 2). The first log point is the first step alone (the untrained
    network's loss), so a blow-up inside the first ``log_every`` steps is caught and the rule needs no
    task-specific constant."""
    losses = [(row["step"], row["train/loss"]) for row in rows if "train/loss" in row]
    if not losses:
        return None
    first = losses[0][1]
    spike = next(((step, loss, factor * first) for step, loss in losses if loss > factor * first), None)
    step, loss = losses[-1]
    blow_up = spike or ((step, loss, ENDS_ABOVE * first) if loss > ENDS_ABOVE * first else None)
    return None if blow_up is None else dict(zip(("step", "loss", "threshold"), blow_up, strict=True))


def regularizer(net: nn.Module) -> torch.Tensor | float:
    return sum((m.regularizer() for m in net.modules() if m is not net and hasattr(m, "regularizer")), 0.0)


@torch.no_grad()
def evaluate(net: nn.Module, task: TaskContract, split: str, max_batches: int | None = None,
             progress: bool = False) -> dict[str, float]:
    """Metrics over a split (its first ``max_batches`` batches if set), keyed ``split/name``; one host sync at
    the end. ``progress``: a bar on a terminal, else a line with the ETA at most every 10 s."""
    was_training = net.training
    net.eval()
    batches = task.eval_batches(split)
    total = len(batches) if isinstance(batches, Sized) else None
    if max_batches is not None:
        batches, total = itertools.islice(batches, max_batches), min(total or max_batches, max_batches)
    bar = EvaluationProgress(split, total) if progress else None
    sums: dict[str, list] = {}
    state = None
    for batch in batches:
        outputs, state = net(batch, state if task.carries_state else None)
        for name, (total_value, count) in task.metrics(outputs, batch).items():
            entry = sums.setdefault(name, [0.0, 0])
            entry[0], entry[1] = entry[0] + total_value, entry[1] + count
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    net.train(was_training)
    return {f"{split}/{name}": float(total_value) / count for name, (total_value, count) in sums.items()}


class Trainer:
    """``run_config`` (the resolved run config) is stored with every checkpoint, for resuming runs to check."""

    def __init__(self, config: TrainerConfig, run_dir: Path, on_log=None, run_config: dict | None = None):
        self.config, self.run_dir, self.on_log, self.run_config = config, Path(run_dir), on_log, run_config
        self._signal: int | None = None

    def fit(self, net: nn.Module, task: TaskContract, optimization: Optimization,
            resume_from: Path | None = None) -> FitResult:
        cfg = self.config
        total = cfg.total_steps(task)
        forward = torch.compile(net) if cfg.compile else net
        progress_state = ckpt.TrainingState()
        if resume_from is not None:
            progress_state = ckpt.load(resume_from, net, optimization)
            if progress_state.step > total:
                raise ckpt.ConfigMismatch(f"{resume_from} is at step {progress_state.step}, beyond this run's "
                                          f"budget of {total} steps (a resumed run can only be extended)")
            print(f"resumed from {resume_from} at step {progress_state.step}", flush=True)
        s = progress_state
        carried = s.carried_state
        pending: list[StepRecord] = []
        tick, tick_step = time.perf_counter(), s.step
        bar = Progress(total, s.step, cfg.progress)
        eval_every = cfg.eval_interval(task)
        device = next(net.parameters()).device
        projection = WallTimeProjection(s.step, total, eval_every, cfg.timing_steps, device,
                                        lambda: self._evaluation_estimate(net, task, device))
        previous_handlers = self._install_signal_handlers()
        net.train()
        try:
            with torch.autograd.set_detect_anomaly(cfg.detect_anomaly):
                while s.step < total:
                    if task.carries_state and s.step % task.steps_per_epoch == 0:
                        carried = None
                    batch = task.train_batch(s.step)
                    outputs, state = forward(batch, carried if task.carries_state else None)
                    carried = ckpt.map_state(torch.Tensor.detach, state) if task.carries_state else None
                    loss = task.loss(outputs, batch)
                    penalty = regularizer(net)
                    (loss + penalty).backward()
                    grad_norm = optimization.step(net)
                    pending.append(StepRecord(loss.detach(), penalty.detach() if torch.is_tensor(penalty) else penalty,
                                              grad_norm, task.metrics(outputs.detach(), batch)
                                              if cfg.train_metrics else None))
                    s.step += 1
                    projection.after_step(s.step)

                    at_eval = s.step % eval_every == 0 or s.step == total
                    at_checkpoint = cfg.checkpoint_every and (s.step % cfg.checkpoint_every == 0
                                                              or s.step == total)
                    if s.step % cfg.log_every == 0 or s.step == 1 or at_eval or at_checkpoint or self._signal:
                        now = time.perf_counter()
                        row, bad_step = self._flush(pending, s.step, optimization,
                                                    (s.step - tick_step) / max(now - tick, 1e-9))
                        s.wall_s += now - tick
                        tick, tick_step, pending = now, s.step, []
                        if bad_step is not None:
                            write_curves(self.run_dir, s.rows)
                            return FitResult("diverged", bad_step, s.metrics, s.best, bad_step, s.rows)
                        s.rows.append(row)
                        if at_eval:
                            self._evaluate(net, task, optimization, s, row)
                            projection.after_evaluation(s.step, time.perf_counter() - now)
                        bar.update(s.step, {k: v for k, v in row.items() if k != "step"})
                        if self.on_log is not None:
                            self.on_log(row)
                        if at_checkpoint or self._signal:
                            s.carried_state = carried
                            ckpt.save(self.run_dir, net, optimization, s, self.run_config)
                            write_curves(self.run_dir, s.rows)
                        if self._signal:
                            raise Interrupted(self._signal, s.step)
                        tick = time.perf_counter()
        finally:
            bar.close()
            self._restore_signal_handlers(previous_handlers)
        write_curves(self.run_dir, s.rows)
        return FitResult("completed", s.step, s.metrics, s.best, None, s.rows)

    def _flush(self, pending, step, optimization, steps_per_s):
        """Summarise the steps since the last log point; find the first non-finite step, if any."""
        losses = torch.stack([p.loss for p in pending]).float()
        norms = torch.stack([torch.as_tensor(p.grad_norm).float() for p in pending]).to(losses.device)
        bad = ~(torch.isfinite(losses) & torch.isfinite(norms))
        if bad.any():
            return None, step - len(pending) + int(bad.nonzero()[0]) + 1
        row = {"step": step, "train/loss": float(losses.mean())}
        penalties = [p.penalty for p in pending]
        if any(torch.is_tensor(p) for p in penalties):
            row["train/regularizer"] = float(torch.stack([torch.as_tensor(p) for p in penalties]).mean())
        row["train/grad_norm"] = float(norms.mean())
        for name in [n for n in pending[0].metrics or {} if n != "loss"]:   # the loss is logged above
            total, count = (sum(p.metrics[name][i] for p in pending) for i in (0, 1))
            row[f"train/{name}"] = float(total) / count
        row["train/lr"] = optimization.optimizer.param_groups[0]["lr"]
        row["train/steps_per_s"] = steps_per_s
        return row, None

    def _evaluation_estimate(self, net, task, device) -> float:
        """Seconds of one evaluation (val, and test with eval_test), from one timed batch per split; the random
        generators are restored afterwards, so the estimate changes nothing in the run."""
        seconds = 0.0
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            for split in ("val", "test") if self.config.eval_test else ("val",):
                batches = task.eval_batches(split)
                count = len(batches) if isinstance(batches, Sized) else 1
                if self.config.eval_max_batches is not None:
                    count = min(count, self.config.eval_max_batches)
                start = time.perf_counter()
                evaluate(net, task, split, max_batches=1)
                seconds += (time.perf_counter() - start) * count
        return seconds

    def _evaluate(self, net, task, optimization, s: ckpt.TrainingState, row: dict) -> None:
        options = {"max_batches": self.config.eval_max_batches, "progress": self.config.progress}
        metrics = evaluate(net, task, "val", **options)
        missing = missing_metrics(name.split("/", 1)[1] for name in metrics)
        if missing:
            raise TypeError(f"{type(task).__name__}.metrics() returns no {', '.join(missing)} (the task contract, "
                            "rnnbench.contracts: the best evaluation is the one with the lowest val/loss)")
        if self.config.eval_test:
            metrics.update(evaluate(net, task, "test", **options))
        row.update(metrics)
        s.metrics = metrics
        val_loss = metrics["val/loss"]
        if math.isfinite(val_loss) and ("val/loss" not in s.best or val_loss < s.best["val/loss"]):
            s.best = {"step": s.step, **metrics}
        optimization.after_eval(val_loss)

    def _install_signal_handlers(self):
        def handler(signum, frame):
            self._signal = signum
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                previous[sig] = signal.signal(sig, handler)
        return previous

    def _restore_signal_handlers(self, previous) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
