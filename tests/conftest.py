"""Shared helpers: compose a config in-process (fast) or run ``run.py`` in a subprocess (end to end)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# Small enough for CI: a few steps, tiny models.
TINY = ["trainer.max_steps=4", "trainer.eval_every=2", "trainer.log_every=2", "trainer.progress=false",
        "trainer.checkpoint_every=0", "device=cpu"]

torch.set_num_threads(1)


def compose_config(overrides: list[str]):
    """The config ``python run.py <overrides>`` would get, with the hydra node set for interpolations."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.model_name = cfg.hydra.runtime.choices.model
        cfg.task_name = cfg.hydra.runtime.choices.task
        del cfg["hydra"]
    return cfg


def run_inprocess(run_dir: Path, overrides: list[str]) -> tuple[int, dict]:
    from rnnbench.experiment import run

    code = run(compose_config(overrides), run_dir)
    return code, json.loads((run_dir / "result.json").read_text())


def run_cli(args: list[str], cwd: Path = ROOT, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def tiny():
    return list(TINY)
