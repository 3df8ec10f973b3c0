"""A fixed set of short runs, for checking that a refactor leaves behaviour bit-identical.

One 30-step run per model (copy task) and one per task (LSTM), seed 0, evaluation capped at one batch; with
``--experiments SCALE``, also a 20-step prefix of every run of every experiment at that scale (seed 0: each
table's models, presets, variants and schedules, evaluated every 10 steps; ``--only NAME ...``: of those
experiments only). For each run it prints the status, the parameter count, whether the run was flagged as
exploded, the final and best metrics and a digest of the curves (without the wall-clock ``train/steps_per_s``).
Run it on two checkouts and compare the outputs:

    python scripts/fixed_runs.py /tmp/before --repo /path/to/old/checkout > before.txt
    python scripts/fixed_runs.py /tmp/after > after.txt
    diff before.txt after.txt        # empty: same metrics and curves, bit for bit
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

from rnnbench.report import sweeps

ROOT = Path(__file__).resolve().parents[1]
COMMON = ["trainer.max_steps=30", "trainer.eval_every=15", "trainer.log_every=5", "trainer.checkpoint_every=15",
          "trainer.eval_max_batches=1", "trainer.progress=false", "seed=0", "device=cpu", "model.hidden_size=16"]
PREFIX = ["trainer.max_steps=20", "trainer.epochs=null", "trainer.eval_every=10", "trainer.log_every=5",
          "trainer.checkpoint_every=0", "trainer.eval_max_batches=1", "trainer.progress=false", "device=cpu"]
TASK_OPTIONS = {"copy": ["task.T=20"], "ptb": ["task.bptt=20"], "mnist": ["task.pixels_per_step=28"]}


def runs(repo: Path, scale: str | None = None, only: list[str] | None = None) -> dict[str, list[str]]:
    models = sorted(p.stem for p in (repo / "conf" / "model").glob("*.yaml"))
    tasks = sorted(p.stem for p in (repo / "conf" / "task").glob("*.yaml"))
    fixed = {**{f"copy_{m}": [f"model={m}", "task=copy", *TASK_OPTIONS["copy"], *COMMON] for m in models},
             **{f"task_{t}": ["model=lstm", f"task={t}", *TASK_OPTIONS.get(t, []), *COMMON] for t in tasks}}
    if scale is None:
        return fixed
    names = sorted(p.parent.name for p in (repo / "conf" / "experiment").glob(f"*/{scale}.yaml")
                   if not only or p.parent.name in only)
    capped = {option.split("=")[0] for option in PREFIX}
    prefixes = {re.sub(r"[^\w.-]+", "_", "__".join(run).replace("+experiment=", "")):
                [*(arg for arg in run if arg.split("=")[0] not in capped), *PREFIX]
                for name in names for run in sweeps.runs(repo / "conf", name, scale, first_seed_only=True)}
    return {**fixed, **prefixes}


def curves_digest(path: Path) -> str:
    with open(path, newline="") as f:
        rows = [{k: v for k, v in row.items() if k != "train/steps_per_s"} for row in csv.DictReader(f)]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:12]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="a directory for the run directories")
    parser.add_argument("--repo", type=Path, default=ROOT, help="the checkout to run (default: this one)")
    parser.add_argument("--experiments", metavar="SCALE", help="also a prefix of every run of the experiments at SCALE")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="of the experiments, only these")
    args = parser.parse_args()
    for name, overrides in runs(args.repo, args.experiments, args.only).items():
        run_dir = args.out / name
        subprocess.run([sys.executable, str(args.repo / "run.py"), *overrides, "skip_completed=false",
                        "resume=false", f"hydra.run.dir={run_dir}"], cwd=args.repo, capture_output=True)
        record = json.loads((run_dir / "result.json").read_text())
        print(name, record["status"], record.get("params"), f"exploded={record.get('exploded')}",
              json.dumps(record.get("metrics"), sort_keys=True),
              json.dumps(record.get("best"), sort_keys=True), curves_digest(run_dir / "metrics.csv"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
