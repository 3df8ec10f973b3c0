"""`make demo`: train LSTM and RNN on a short copy task and print what they reached against the baseline."""

import subprocess
import sys
from pathlib import Path

from tabulate import tabulate

from rnnbench.records import scan

ROOT = Path(__file__).resolve().parents[1]

SWEEP_DIR = ROOT / "outputs" / "demo"


def main() -> int:
    command = [sys.executable, str(ROOT / "run.py"), "-m", "+experiment=demo", "~paper", "skip_completed=false",
               "resume=false", *sys.argv[1:]]
    print("$", " ".join(command[1:]), flush=True)
    if subprocess.run(command, cwd=ROOT).returncode != 0:
        return 1
    rows = [[r["model"], r["params"], r["status"], r["metrics"].get("test/loss"), r["metrics"].get("test/accuracy"),
             r["constants"]["baseline_loss"]] for r in scan(SWEEP_DIR)]
    print()
    print(f"Copy task, T={rows and scan(SWEEP_DIR)[0]['config']['task']['T']}: test loss vs the memoryless "
          "baseline 10·ln 8/(T+20) (records in outputs/demo/)")
    print(tabulate(rows, headers=["model", "params", "status", "test loss", "test accuracy", "baseline loss"],
                   floatfmt=".4f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
