"""Our implementation against the nnRNN authors' (issue 27): both run with the same settings and budget, one run at
a time (nice 10), then compared within seed spread (rnnbench/report/agreement.py).

    python scripts/agreement.py --authors /path/to/nnRNN [--comparison copy language] [--seeds 0 1 2] [--models ...]
    python scripts/agreement.py --table        # results/tables/agreement_cpu.{md,csv}, results/figures/...png

Per comparison (copy: copytask.py; language: language_task.py on our PTB character splits, written into the
scratch copy as its data/pennchar/*.txt) and (model, seed): the authors' script in a scratch copy of their checkout
(it writes ./saves), under the shims of rnnbench.report.agreement (PYTHONPATH), its stdout kept as a record in
<out>/<comparison>/authors/<model>/seed=N; then run.py into <out>/<comparison>/rnnbench/<model>/seed=N. Runs whose
record holds a result are skipped.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rnnbench.files import write_atomic
from rnnbench.report import agreement
from rnnbench.tasks.ptb import load_ptb_chars

ROOT = Path(__file__).resolve().parents[1]
NICE = ["nice", "-n", "10"]
AUTHORS_HINT = (f"error: --authors PATH: a checkout of {agreement.AUTHORS_REPOSITORY} at {agreement.AUTHORS_COMMIT} "
                f"(git clone https://github.com/{agreement.AUTHORS_REPOSITORY} && git -C nnRNN checkout "
                f"{agreement.AUTHORS_COMMIT})")
RUN_TIMEOUT_S = 3600


def git(checkout: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def interpreter_versions(python: str) -> dict:
    code = "import platform, torch; print(platform.python_version(), torch.__version__)"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return {"python": out[0], "torch": out[1]}


def child_env(**extra: str) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", **extra}


def exact_results(scratch: Path, comparison: str, model: str, seed: int) -> dict:
    """language_task.py's full-precision test results: the newest saves/sMNIST/<net-type>/<seed>/*testdat.txt
    (its SAVEDIR, the directory name and file name run together); empty for other scripts or without the file."""
    if comparison != "language":
        return {}
    net = agreement.SETTINGS[comparison][model]["net-type"]
    found = sorted((scratch / "saves" / "sMNIST" / net / str(seed)).glob("*testdat.txt"),
                   key=lambda f: f.stat().st_mtime)
    return agreement.testdat_metrics(found[-1].read_text()) if found else {}


def run_authors(args, comparison: str, checkout: dict, scratch: Path, shims: Path, model: str, seed: int,
                run_dir: Path) -> None:
    flags = agreement.authors_arguments(comparison, model, seed)
    command = [args.python, "-m", "nnrnn_shims", agreement.SCRIPTS[comparison], *flags]
    print(f"authors  {model} seed {seed}: {' '.join(command)}", flush=True)
    started = time.time()
    env = child_env(PYTHONPATH=str(shims), **({"NNRNN_DIAGNOSTIC": args.diagnostic} if args.diagnostic else {}))
    try:
        done = subprocess.run(NICE + command, cwd=scratch, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)
        stdout, returncode = done.stdout, done.returncode
        error = done.stderr.strip().splitlines()[-1] if done.returncode and done.stderr.strip() else ""
    except subprocess.TimeoutExpired:
        stdout, returncode, error = "", -1, f"timed out after {RUN_TIMEOUT_S} s"
    config = {"argv": [agreement.SCRIPTS[comparison], *flags], "repository": agreement.AUTHORS_REPOSITORY,
              **checkout, "shims": agreement.SHIMS}
    if args.diagnostic:
        config["diagnostic"] = {"name": args.diagnostic, "what": agreement.DIAGNOSTICS[args.diagnostic]}
    record = agreement.write_authors_record(run_dir, model=model, seed=seed, comparison=comparison,
                                            stdout=stdout, returncode=returncode, error=error,
                                            wall_s=time.time() - started, config=config,
                                            exact=exact_results(scratch, comparison, model, seed))
    print(f"authors  {model} seed {seed}: {record['status']} after {record['steps']} updates, "
          f"{record['wall_s']:.0f} s, {record['metrics']}", flush=True)


def run_ours(comparison: str, model: str, seed: int, run_dir: Path) -> None:
    overrides = agreement.our_overrides(comparison, model, seed)
    command = [sys.executable, str(ROOT / "run.py"), *overrides, f"trainer.log_every={agreement.LOG_EVERY}",
               *agreement.OUR_TRAINER[comparison], "trainer.train_metrics=true", "trainer.progress=false",
               "device=cpu", f"hydra.run.dir='{run_dir}'"]
    print(f"rnnbench {model} seed {seed}: {' '.join(command[2:])}", flush=True)
    done = subprocess.run(NICE + command, cwd=ROOT, env=child_env(), capture_output=True, text=True)
    record = agreement.mark_ours(run_dir)
    status = record["status"] if record else "no record"
    print(f"rnnbench {model} seed {seed}: exit {done.returncode}, {status}"
          + (f"; {done.stderr.strip().splitlines()[-1]}" if done.returncode and done.stderr.strip() else ""),
          flush=True)


def run_all(args) -> None:
    checkout_dir = Path(args.authors).resolve()
    checkout = {"commit": git(checkout_dir, "rev-parse", "HEAD"),
                "dirty": bool(git(checkout_dir, "status", "--porcelain", "--untracked-files=no")),
                "interpreter": interpreter_versions(args.python)}
    if not checkout["commit"].startswith(agreement.AUTHORS_COMMIT):
        print(f"warning: {checkout_dir} is at {checkout['commit'][:7]}, not {agreement.AUTHORS_COMMIT}",
              file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="nnrnn_agreement_") as temp:
        scratch = Path(temp) / "nnRNN"
        shutil.copytree(checkout_dir, scratch, ignore=shutil.ignore_patterns(".git", "saves", "data", "*.pdf",
                                                                             "*.png", "*.ipynb"))
        shims = agreement.write_shims(Path(temp) / "shims")
        for comparison in args.comparison:
            if comparison == "language":
                agreement.write_pennchar(load_ptb_chars(None), scratch / "data" / "pennchar")
            out = Path(args.out).resolve() / (f"{comparison}-{args.diagnostic}" if args.diagnostic else comparison)
            models = [m for m in args.models or agreement.SETTINGS[comparison] if m in agreement.SETTINGS[comparison]]
            for model in models:
                for seed in args.seeds:
                    for side in args.sides:
                        run_dir = out / side / model / f"seed={seed}"
                        if agreement.has_result(run_dir):
                            if side == "rnnbench":
                                agreement.mark_ours(run_dir)
                            print(f"{comparison}: {side} {model} seed {seed}: has a result, skipped", flush=True)
                        elif side == "authors":
                            run_authors(args, comparison, checkout, scratch, shims, model, seed, run_dir)
                        else:
                            run_ours(comparison, model, seed, run_dir)


def write_table(args) -> None:
    records = Path(args.out)
    spec = agreement.load_spec()
    name = agreement.table_name(records)
    tables_dir, figures_dir = ROOT / "results" / "tables", ROOT / "results" / "figures"
    tables_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(tables_dir / f"{name}.md", agreement.agreement_table(records, spec))
    write_atomic(tables_dir / f"{name}.csv", agreement.agreement_csv(records, spec))
    print(tables_dir / f"{name}.md")
    for comparison in spec["comparisons"]:
        figure = agreement.agreement_figure(records, figures_dir / agreement.figure_name(records, comparison),
                                            comparison, spec)
        if figure:
            print(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--authors", help=f"a checkout of {agreement.AUTHORS_REPOSITORY}")
    parser.add_argument("--python", default=sys.executable, help="the interpreter for the authors' code")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--comparison", nargs="+", default=list(agreement.SETTINGS), choices=list(agreement.SETTINGS),
                        help="which comparisons to run (default all)")
    parser.add_argument("--models", nargs="+", default=None, help="default: every model of each comparison")
    parser.add_argument("--sides", nargs="+", default=["authors", "rnnbench"],
                        choices=agreement.IMPLEMENTATIONS, help="which implementations to run (default both)")
    parser.add_argument("--diagnostic", choices=sorted(agreement.DIAGNOSTICS),
                        help="the authors' side with a diagnostic change (not a shim), into <out>/<comparison>-NAME")
    parser.add_argument("--out", default=str(ROOT / "results" / "records" / "agreement" / "cpu"))
    parser.add_argument("--table", action="store_true", help="only write the table and figure from the records")
    args = parser.parse_args()
    if args.table:
        write_table(args)
        return 0
    if not args.authors:
        print(AUTHORS_HINT)
        return 2
    valid = sorted({model for comparison in args.comparison for model in agreement.SETTINGS[comparison]})
    unknown = sorted(set(args.models or []) - set(valid))
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)}; choose from {', '.join(valid)}")
    if args.diagnostic:
        args.sides = ["authors"]
    run_all(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
