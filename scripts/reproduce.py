"""`make reproduce TABLE=<experiment> SCALE=cpu|paper`: run an experiment's sweeps with the local launcher.

conf/experiment/<experiment>/<scale>.yaml holds the common settings and, under ``reproduce.sweeps``, one
line of sweep overrides per Hydra multirun (e.g. one per model family when their sizes differ). Records go
to results/records/<experiment>/<scale>/<overrides>/; runs already ``completed`` are skipped and
interrupted ones resume, so re-running after an interruption finishes the sweep.

    python scripts/reproduce.py copy cpu [--jobs 2] [--dry-run]
    python scripts/reproduce.py all cpu
"""

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

from rnnbench import sweeps

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "conf" / "experiment"


def experiments(scale: str) -> list[str]:
    return sorted(p.parent.name for p in EXPERIMENTS.glob(f"*/{scale}.yaml"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", help="an experiment name, or 'all'")
    parser.add_argument("scale", choices=["cpu", "paper"])
    parser.add_argument("--jobs", type=int, default=2, help="parallel jobs (joblib launcher)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("overrides", nargs="*", help="extra overrides for every run")
    args = parser.parse_args()
    names = experiments(args.scale) if args.experiment == "all" else [args.experiment]
    valid = experiments(args.scale)
    for name in names:
        if name not in valid:
            print(f"error: unknown experiment '{name}' at scale {args.scale}; valid: {', '.join(valid)}",
                  file=sys.stderr)
            return 2
    failed = 0
    for name in names:
        for sweep in sweeps.sweep_lines(ROOT / "conf", name, args.scale):
            command = [sys.executable, str(ROOT / "run.py"), "-m", f"+experiment={name}/{args.scale}",
                       "hydra/launcher=local", f"hydra.launcher.n_jobs={args.jobs}", *shlex.split(sweep),
                       *args.overrides]
            print("$", shlex.join(command[1:]), flush=True)
            if not args.dry_run:
                failed += subprocess.run(command, cwd=ROOT).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
