"""`make reproduce TABLE=<experiment> SCALE=cpu|paper`: run an experiment's sweeps, ``--jobs`` runs at a time.

conf/experiment/<experiment>/<scale>.yaml holds the common settings and <scale>.sweep.yaml its sweep lines
(``sweeps`` and/or a column × row ``matrix``) and optionally a ``search`` (rnnbench.report.sweeps): every line's search
runs first, and a line's final seeds start, ahead of the remaining search runs, as soon as its search has
finished and chosen its setting. Each run is one `run.py` call with single values and ``hydra.run.dir`` set to
results/records/<experiment>/<scale>/<overrides>/ (where a `run.py -m` sweep of the same lines puts its records
too: rnnbench.report.sweeps.run_dir). Runs already ``completed`` are skipped
(without starting a process, unless ``skip_completed=false`` is passed) and interrupted ones resume, so
re-running after an interruption finishes the sweep.

    python scripts/reproduce.py copy cpu [--jobs 2] [--dry-run]
    python scripts/reproduce.py all cpu
"""

import argparse
import collections
import shlex
import subprocess
import sys
import time
from pathlib import Path

from rnnbench.experiment import LOCKED_EXIT
from rnnbench.records import read_record
from rnnbench.report import sweeps, tables

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
UNFINISHED = ("running", "interrupted")     # a record's status while its run has not ended


def experiments(scale: str) -> list[str]:
    return sorted(p.parent.name for p in (CONF / "experiment").glob(f"*/{scale}.yaml"))


def command(name: str, scale: str, run: tuple[str, ...], extra: list[str]) -> list[str]:
    run_dir = str(sweeps.run_dir(ROOT, name, scale, run)).replace("'", "\\'")
    return [sys.executable, str(ROOT / "run.py"), f"+experiment={name}/{scale}", *run, *extra,
            f"hydra.run.dir='{run_dir}'"]


def completed(run_dir: Path) -> bool:
    record = read_record(run_dir)
    return record is not None and record.get("status") == "completed"


def chosen(name: str, scale: str, search: dict, line: str):
    """The searched value with the best mean ``search.by`` over the line's search runs; None while one of them
    has not ended (e.g. a second sweep holds its run lock) or when none is usable."""
    runs = sweeps.search_runs(line, search)
    records = [record for run in runs for record in tables.load_records(sweeps.run_dir(ROOT, name, scale, run))]
    if len(records) < len(runs) or any(r["status"] in UNFINISHED for r in records):
        return None
    value, _, _ = tables.tuned(records, sweeps.tune_of(search))
    return value


def run_all(name: str, scale: str, jobs: int, extra: list[str], dry_run: bool) -> int:
    """Every run of the experiment, ``jobs`` at a time; returns the number that exited non-zero."""
    search, lines = sweeps.search_of(CONF, name, scale), sweeps.sweep_lines(CONF, name, scale)
    queue = collections.deque((None, run) for line in lines for run in sweeps.expand(line)) if not search else \
        collections.deque((line, run) for line in lines for run in sweeps.search_runs(line, search))
    waiting = collections.Counter(line for line, _ in queue if line is not None)
    running, failed, reuse = [], 0, "skip_completed=false" not in extra
    while queue or running:
        while queue and len(running) < jobs:
            line, run = queue.popleft()
            cmd = command(name, scale, run, extra)
            print("$", shlex.join(cmd[1:-1]), flush=True)
            done = dry_run or (reuse and completed(sweeps.run_dir(ROOT, name, scale, run)))   # no process needed
            running.append((line, None if done else subprocess.Popen(cmd, cwd=ROOT)))
        time.sleep(1 if any(process for _, process in running) else 0)
        for entry in [e for e in running if e[1] is None or e[1].poll() is not None]:
            running.remove(entry)
            line, process = entry
            failed += process is not None and process.returncode not in (0, LOCKED_EXIT)   # locked: run elsewhere
            if line is None:
                continue
            waiting[line] -= 1
            if waiting[line] == 0:                        # the line's search is done: its final seeds next
                if dry_run:
                    print(f"# then seeds {search['final_seeds']} at the best {search['key']} by {search['by']}")
                    continue
                value = chosen(name, scale, search, line)
                print(f"# {line}: " + (f"{search['key']}={value!r}, the best mean {search['by']} of its search"
                                       if value is not None else f"no {search['key']} chosen here (a search run "
                                       "is still running in another sweep, or none is usable)"), flush=True)
                if value is not None:
                    queue.extendleft(reversed([(None, run) for run in sweeps.final_runs(line, search, value)]))
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiment", help="an experiment name, or 'all'")
    parser.add_argument("scale", choices=["cpu", "paper"])
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one torch thread each)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("overrides", nargs="*", help="extra overrides for every run")
    args = parser.parse_args()
    valid = experiments(args.scale)
    names = valid if args.experiment == "all" else [args.experiment]
    for name in names:
        if name not in valid:
            print(f"error: unknown experiment '{name}' at scale {args.scale}; valid: {', '.join(valid)}",
                  file=sys.stderr)
            return 2
    failed = sum(run_all(name, args.scale, args.jobs, args.overrides, args.dry_run) for name in names)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
