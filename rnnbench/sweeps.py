"""An experiment's sweeps: ``reproduce.sweeps`` of conf/experiment/<name>/<scale>.yaml, one Hydra multirun line
each (``key=a,b key2=c``), the single runs they expand to (the cartesian product of each line's values), and the
directory their records go to (``hydra.sweep.dir`` of conf/records.yaml, which every experiment includes)."""

from __future__ import annotations

import itertools
import shlex
from pathlib import Path

from omegaconf import OmegaConf


def experiment_file(conf: Path, experiment: str, scale: str) -> Path:
    return Path(conf) / "experiment" / experiment / f"{scale}.yaml"


def records_dir(root: Path, experiment: str, scale: str) -> Path:
    """``root``/results/records/<experiment>/<scale>: conf/records.yaml's ``hydra.sweep.dir`` for that experiment."""
    layout = OmegaConf.load(Path(root) / "conf" / "records.yaml")
    layout.hydra.runtime = {"choices": {"experiment": f"{experiment}/{scale}"}}
    return Path(root) / layout.hydra.sweep.dir


def sweep_lines(conf: Path, experiment: str, scale: str) -> list[str]:
    return list(OmegaConf.load(experiment_file(conf, experiment, scale)).reproduce.sweeps)


def expand(line: str, first_seed_only: bool = False) -> list[tuple[str, ...]]:
    """``"seed=0,1 model=a,b"`` → ``[("seed=0", "model=a"), ("seed=0", "model=b"), ...]`` in Hydra's order (the
    first key outermost); with ``first_seed_only``, seeds stay at their first value."""
    choices = []
    for arg in shlex.split(line):
        key, values = arg.split("=", 1)
        values = values.split(",")
        choices.append([f"{key}={v}" for v in (values[:1] if first_seed_only and key == "seed" else values)])
    return list(itertools.product(*choices))


def runs(conf: Path, experiment: str, scale: str, first_seed_only: bool = False) -> list[tuple[str, ...]]:
    """Every run of the experiment's sweeps as the overrides ``scripts/reproduce.py`` passes to ``run.py``."""
    return [(f"+experiment={experiment}/{scale}", *combination)
            for line in sweep_lines(conf, experiment, scale) for combination in expand(line, first_seed_only)]
