"""Where a run's logged rows go besides ``metrics.csv``: Weights & Biases and TensorBoard (``logger.*``).

Each logger receives every row the trainer logs (``{"step": s, "train/loss": ..., "val/accuracy": ...}``), the
same scalars as ``metrics.csv``:

- ``logger.wandb.mode``: ``disabled`` | ``offline`` | ``online`` (``wandb.init`` in the run directory);
- ``logger.tensorboard.enabled``: event files under ``<run_dir>/tensorboard`` (or ``logger.tensorboard.dir``),
  written by ``torch.utils.tensorboard.SummaryWriter`` (the optional ``tensorboard`` package:
  ``pip install -e '.[tensorboard]'``); view them with ``tensorboard --logdir <run_dir>``.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from rnnbench.config_checks import ConfigError, require


class Loggers:
    """The run's open loggers; ``log(row)`` sends a row to each, ``finish(code)`` closes them."""

    def __init__(self, cfg: DictConfig, run_dir: Path, record: dict):
        self.wandb = open_wandb(cfg.logger.wandb, run_dir, record)
        self.tensorboard = open_tensorboard(cfg.logger.get("tensorboard") or {}, run_dir)

    @property
    def active(self) -> bool:
        return self.wandb is not None or self.tensorboard is not None

    def log(self, row: dict) -> None:
        if self.wandb is not None:
            self.wandb.log(row)
        if self.tensorboard is not None:
            for name, value in row.items():
                if name != "step":
                    self.tensorboard.add_scalar(name, value, row["step"])

    def finish(self, code: int) -> None:
        if self.wandb is not None:
            self.wandb.finish(exit_code=code)
        if self.tensorboard is not None:
            self.tensorboard.close()


def open_wandb(settings, run_dir: Path, record: dict):
    if settings.mode == "disabled":
        return None
    import wandb
    return wandb.init(mode=settings.mode, project=settings.project, entity=settings.entity,
                      name=f"{record['task']}-{record['model']}-seed{record['seed']}", dir=str(run_dir),
                      config=record["config"], tags=list(settings.tags))


def open_tensorboard(settings, run_dir: Path):
    enabled = settings.get("enabled", False)
    require(isinstance(enabled, bool), "logger.tensorboard.enabled", enabled, "true or false")
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ConfigError("logger.tensorboard.enabled", True,
                          "false, or the tensorboard package installed (pip install -e '.[tensorboard]')") from error
    return SummaryWriter(log_dir=str(settings.get("dir") or Path(run_dir) / "tensorboard"))
