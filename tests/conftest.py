"""Shared helpers: compose a config in-process (fast), run ``run.py`` as ``__main__`` in this process (its command
line, without a new interpreter), or run it in a subprocess (end to end)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import subprocess
import sys
import time
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
# A tiny model on a short copy task, for checkpoints and resumes (add trainer.max_steps, checkpoint_every).
SMALL = ["model.hidden_size=8", "task.T=8", "task.eval_size=50", "trainer.eval_every=100",
         "trainer.log_every=50", "trainer.progress=false", "device=cpu", "~paper"]

torch.set_num_threads(1)
# The C++ Phased LSTM kernel (rnnbench.native) builds in ~40 s on first use. Tests about it switch it on
# (monkeypatch.setenv) and share the xdist group "native" (make test: --dist loadgroup), so one worker builds it
# while the others run; every other test, and the run.py processes they start, use the pure-torch path.
os.environ.setdefault("RNNBENCH_NATIVE", "0")


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


def run_main(args: list[str], monkeypatch: pytest.MonkeyPatch) -> subprocess.CompletedProcess:
    """``python run.py <args>`` executed as ``__main__`` in this process (preflight, Hydra's main, the runner): the
    exit code (``SystemExit``), stdout and stderr as :func:`run_cli` gives them, ~3 s cheaper per call (no
    interpreter start, no torch import). For runs that stop before training (bad input); runs that train and
    interruptions go through :func:`run_cli` / :func:`start`."""
    monkeypatch.setenv("HYDRA_FULL_ERROR", "0")
    monkeypatch.setattr(sys, "argv", [str(ROOT / "run.py"), *args])
    out, err, code = io.StringIO(), io.StringIO(), 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(str(ROOT / "run.py"), run_name="__main__")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def start(args: list[str], run_dir: Path) -> subprocess.Popen:
    """``run.py <args>`` in ``run_dir``, running in the background."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, str(ROOT / "run.py"), *args, f"hydra.run.dir={run_dir}"], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(process: subprocess.Popen, run_dir: Path, timeout: float = 120) -> None:
    manifest = run_dir / "checkpoint.json"
    deadline = time.time() + timeout
    while not manifest.exists():
        assert process.poll() is None, process.communicate()
        assert time.time() < deadline, "no checkpoint written"
        time.sleep(0.01)


def record(run_dir: Path, name: str = "result.json") -> dict:
    return json.loads((run_dir / name).read_text())


@pytest.fixture
def tiny():
    return list(TINY)
