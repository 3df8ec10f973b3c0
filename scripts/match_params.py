"""Sizes at a parameter budget: for each model, the width (or ``--key``, e.g. EURNN's ``capacity``) whose network
on the task has the trainable parameter count closest to ``--params`` (rnnbench.report.sizing), for sweeps that compare
models at equal size.

    python scripts/match_params.py --params 20000 task=copy task.T=200
    python scripts/match_params.py --params 60000 --models rnn lstm nnrnn task=ptb
    python scripts/match_params.py --params 19000 --models eurnn --key capacity --multiple-of 1 task=copy

Overrides after the options compose the task and models as ``run.py`` would (the models' own configs, no paper
preset; ``model.hidden_size=128`` fixes the width while ``--key capacity`` is searched).
Prints one line per model: ``model key size params``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from rnnbench.experiment import build
from rnnbench.report.sizing import network_count, size_for_budget

CONF = Path(__file__).resolve().parents[1] / "conf"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=int, required=True, help="the parameter budget")
    parser.add_argument("--models", nargs="*", default=sorted(p.stem for p in (CONF / "model").glob("*.yaml")))
    parser.add_argument("--key", default="hidden_size", help="the model setting searched (default hidden_size)")
    parser.add_argument("--multiple-of", type=int, default=8, help="allowed sizes: multiples of this (default 8)")
    parser.add_argument("overrides", nargs="*", help="task overrides, e.g. task=copy task.T=200")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        for model in args.models:
            cfg = compose("config", overrides=[f"model={model}", "~paper", *args.overrides])
            task = build(cfg.task, "task", device=torch.device("cpu"), seed=0)
            size, count = size_for_budget(
                lambda s, cfg=cfg, task=task: network_count(cfg.model, task, s, args.key), args.params,
                args.multiple_of)
            print(f"{model} {args.key} {size} {count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
