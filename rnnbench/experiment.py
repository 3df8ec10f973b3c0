"""One run, from a composed config to a run record: the data flow of the design page.

    task  = instantiate(cfg.task, device, seed)
    core  = instantiate(cfg.model, input_size=task.input_size)
    net   = task.network(core)
    optimization = build_optimization(net, cfg)   # optimizer, schedule: Hydra partials; param_groups, clip
    Trainer(cfg.trainer).fit(net, task, optimization)  →  result.json, metrics.csv

The run directory is locked for the whole run (:mod:`rnnbench.runlock`); its record is written with
:func:`rnnbench.records.write_attempt`, so an attempt that produces no result never replaces one.

Exit codes: 0 completed, diverged or skipped as completed (a sweep goes on); 2 bad configuration, including
one that differs from the checkpoint's (reported on one line before any training); 75 skipped because another
process is running the same directory; 1 any other failure (a full disk included); 130/143 interrupted by
SIGINT/SIGTERM (a checkpoint is kept and re-running the same command resumes).
"""

from __future__ import annotations

import contextlib
import random
import signal
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from rnnbench import checkpoint, runlock
from rnnbench.allocator import reuse_freed_memory
from rnnbench.config_checks import ConfigError, accepted_keys, build, check_keys, require
from rnnbench.loggers import Loggers
from rnnbench.optim import build_optimization
from rnnbench.records import code_revision, read_record, versions, write_attempt
from rnnbench.sources import run_sources
from rnnbench.train import Interrupted, Trainer, TrainerConfig, explosion

INTERRUPT_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}
LOCKED_EXIT = 75                      # EX_TEMPFAIL: the directory is busy, try again later


def parameter_count(net: torch.nn.Module) -> int:
    """The record's ``params``: trainable parameters of the whole network."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    require(isinstance(name, str) and (name == "cpu" or name.startswith("cuda")), "device", name,
            "one of auto, cpu, cuda, cuda:N")
    require(name == "cpu" or torch.cuda.is_available(), "device", name, "cpu or auto (no CUDA device here)")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    require(isinstance(seed, int) and seed >= 0, "seed", seed, "a non-negative integer")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_trainer_config(node: DictConfig) -> TrainerConfig:
    """``trainer.*`` as a :class:`TrainerConfig`, unknown keys and invalid values reported as ConfigError."""
    check_keys("trainer", list(node), accepted_keys(TrainerConfig))
    try:
        return TrainerConfig(**OmegaConf.to_container(node, resolve=True))
    except ConfigError as error:
        raise error.prefixed("trainer.") from None


@contextlib.contextmanager
def runtime_settings(cfg: DictConfig):
    """The process settings a run asks for, for the duration of the run: ``threads`` torch threads,
    ``flush_denormal`` (restored to torch's default, off, afterwards) and ``reuse_freed_memory`` (a malloc
    setting that holds for the rest of the process: it changes speed and memory held, never results)."""
    threads = cfg.threads
    require(isinstance(threads, int) and threads >= 0, "threads", threads, "0 (torch default) or a count")
    require(isinstance(cfg.flush_denormal, bool), "flush_denormal", cfg.flush_denormal, "true or false")
    require(isinstance(cfg.reuse_freed_memory, bool), "reuse_freed_memory", cfg.reuse_freed_memory,
            "true or false")
    previous_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    torch.set_flush_denormal(cfg.flush_denormal)
    if cfg.reuse_freed_memory:
        reuse_freed_memory()
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.set_flush_denormal(False)


def config_choices() -> dict | None:
    """Hydra's group choices for this run (model, task, paper preset, variant, experiment, ...), if composed by
    Hydra."""
    from hydra.core.hydra_config import HydraConfig
    if not HydraConfig.initialized():
        return None
    return OmegaConf.to_container(HydraConfig.get().runtime.choices)


def resume_point(resume, run_dir: Path) -> Path | None:
    if resume in (False, "false", "never", None):
        return None
    if resume in (True, "auto", "true"):
        found = checkpoint.find(run_dir)
        require(found is not None or resume == "auto", "resume", resume,
                f"a run directory holding {checkpoint.CHECKPOINT} (none in {run_dir})")
        return found
    found = checkpoint.find(Path(str(resume)))
    require(found is not None, "resume", resume, "auto, false, or an existing checkpoint or run directory")
    return found


def run(cfg: DictConfig, run_dir: Path) -> int:
    """Run ``cfg`` in ``run_dir`` holding its lock; skipped (LOCKED_EXIT) if another process holds it."""
    run_dir = Path(run_dir)
    try:
        with runlock.hold(run_dir):
            return attempt(cfg, run_dir)
    except runlock.RunLocked as error:
        print(f"skipped: {error}", file=sys.stderr)
        return LOCKED_EXIT
    except OSError as error:              # the lock or the record could not be written; the old record stays
        print(f"error: {error}", file=sys.stderr)
        return 1


def attempt(cfg: DictConfig, run_dir: Path) -> int:
    previous = read_record(run_dir)
    if previous is not None and previous.get("status") == "completed" and cfg.skip_completed:
        print(f"{run_dir}: already completed, skipped (skip_completed=true)")
        return 0
    started = time.time()
    record = {"status": "running", "model": cfg.model_name, "task": cfg.task_name, "seed": cfg.seed,
              "config": OmegaConf.to_container(cfg, resolve=True), "versions": versions(), "code": code_revision()}
    write_attempt(run_dir, record)
    loggers, code = None, 1
    try:
        resume_from = resume_point(cfg.resume, run_dir)
        if resume_from is not None:
            checkpoint.check_config(resume_from, record["config"])
        device = resolve_device(cfg.device)
        record["device"] = str(device)
        with runtime_settings(cfg):
            seed_everything(cfg.seed)
            trainer_config = build_trainer_config(cfg.trainer)
            task = build(cfg.task, "task", device=device, seed=cfg.seed)
            core = build(cfg.model, "model", input_size=task.input_size)
            net = task.network(core).to(device)
            optimization = build_optimization(net, cfg)
            record.update(params=parameter_count(net), constants=task.constants,
                          eval_capped=trainer_config.eval_max_batches is not None)
            print(f"{record['task']} / {record['model']}  seed {cfg.seed}  params {record['params']:,d}  "
                  f"device {device}  threads {torch.get_num_threads()}  run_dir {run_dir}")
            print(optimization.describe(), flush=True)
            loggers = Loggers(cfg, run_dir, record)
            trainer = Trainer(trainer_config, run_dir, on_log=loggers.log if loggers.active else None,
                              run_config=record["config"])
            record["sources"] = run_sources(config_choices())    # what is loaded now is what trains
            result = trainer.fit(net, task, optimization, resume_from=resume_from)
            record["artifacts"] = task.report(net, run_dir)
        record.update(status=result.status, steps=result.step, metrics=result.metrics, best=result.best)
        blow_up = explosion(result.rows, trainer_config.explosion_factor)
        record["exploded"] = blow_up is not None
        if blow_up is not None:
            record["explosion"] = blow_up
            print(f"exploded: train loss {blow_up['loss']:.4g} at step {blow_up['step']} > {blow_up['threshold']:.4g} "
                  f"({blow_up['threshold'] / result.rows[0]['train/loss']:g}x the first logged loss)")
        if result.diverged_at is not None:
            record["diverged_at"] = result.diverged_at
            print(f"diverged: non-finite loss or gradient at step {result.diverged_at}")
        print(f"{result.status} after {result.step} steps: "
              + "  ".join(f"{k} {v:.4g}" for k, v in result.metrics.items()))
        code = 0
    except (ConfigError, checkpoint.ConfigMismatch) as error:
        record.update(status="failed", error=str(error))
        print(f"error: {error}", file=sys.stderr)
        code = 2
    except (checkpoint.CheckpointError, OSError) as error:
        record.update(status="failed", error=str(error))
        print(f"error: {error}", file=sys.stderr)
    except Interrupted as error:
        record.update(status="interrupted", error=str(error))
        print(f"interrupted: {error}; checkpoint saved in {run_dir}, re-run the same command to resume",
              file=sys.stderr)
        code = INTERRUPT_EXIT.get(error.signum, 1)
    except Exception as error:
        record.update(status="failed", error=f"{type(error).__name__}: {error}")
        traceback.print_exc()
    finally:
        record["wall_s"] = time.time() - started
        record.setdefault("sources", run_sources(config_choices()))
        if loggers is not None:
            loggers.finish(code)
        write_attempt(run_dir, record)
    return code
