"""`make bench`: forward + backward + optimiser step per iteration, every model against torch's kernels.

Each (model, shape) is measured in fresh subprocesses (so peak memory is that run's own): warm-up iterations,
then the median of several timed iterations; the fastest of 1–3 processes per shape is kept. The models (every
file in conf/model/, plus labelled variants), the shapes and each model's torch reference (torch.nn.RNN, LSTM or
GRU, timed in the same run on the same shapes) come from conf/bench.yaml. Prints a table and the project's
speed goals checked on it, and writes results/bench.csv and results/bench.md (results/bench_gpu.* with
--device cuda).

    python scripts/bench.py                      # all models, all shapes, CPU, one thread
    python scripts/bench.py --models rnn nnrnn --shapes copy_b10
    python scripts/bench.py --device cuda
    python scripts/bench.py --report results/bench.csv   # rebuild bench.md from the recorded CSV
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
SPEC = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "bench.yaml"))
SHAPES = {name: tuple(values) for name, values in SPEC["shapes"].items()}
DEFAULT_SHAPES = SPEC["default_shapes"]
REFERENCES = SPEC["references"]
# label: {model: conf/model name, overrides, shapes}: every conf/model file, then the spec's variants
MODELS = {**{p.stem: {"model": p.stem} for p in sorted((ROOT / "conf" / "model").glob("*.yaml"))},
          **SPEC["variants"]}
COLUMNS = ["model", "hidden", "batch", "seq_len", "device", "threads", "ms_per_iter", "ref_model",
           "ref_ms_per_iter", "ratio", "peak_mem_mb"]


def reference_for(label: str) -> str:
    return SPEC["reference"].get(label, SPEC["default_reference"])


def timed_at(label: str, shape: str) -> bool:
    return shape in MODELS[label].get("shapes", SHAPES)


ORTHOGONAL_FAMILY = ("rnn", "rnn_orth", "exprnn", "eurnn", "nnrnn")
COPY_SHAPES = ("copy_b10", "copy_b128")


def goal_checks(rows: list[dict]) -> list[list]:
    """The speed goals of the project, checked on this run: [goal, shape, value, bound, holds]."""
    by_key = {(row["model"], row["hidden"], row["batch"], row["seq_len"]): row for row in rows}
    shape_of = {SHAPES[name][:3]: name for name in SHAPES}
    checks = []
    for (model, hidden, batch, seq_len), row in by_key.items():
        shape = shape_of[(hidden, batch, seq_len)]
        if shape in COPY_SHAPES and model in ORTHOGONAL_FAMILY:
            checks.append([f"{model} / torch.nn.RNN", shape, row["ratio"], 1.5])
        if shape in COPY_SHAPES and model == "plstm":
            checks.append(["plstm / torch.nn.LSTM", shape, row["ratio"], 2.0])
        rnn = by_key.get(("rnn", hidden, batch, seq_len))
        if model == "cwrnn" and hidden == 512 and rnn:
            checks.append(["cwrnn (8 modules) / our rnn", shape, row["ms_per_iter"] / rnn["ms_per_iter"], 0.5])
        loop = by_key.get(("lru_sequential", hidden, batch, seq_len))
        if model == "lru" and loop:                     # depth 2⌈log₂ T⌉ instead of T; ~2x the work on one thread
            checks.append(["lru parallel scan / its sequential loop", shape, row["ms_per_iter"] / loop["ms_per_iter"],
                           1.5])
        short = by_key.get((model, hidden, batch, 220))
        if seq_len == 880 and short:
            checks.append([f"{model}: T=880 / T=220", shape, row["ms_per_iter"] / short["ms_per_iter"], 4.6])
    return [[*check, "yes" if check[2] <= check[3] else "NO"] for check in checks]


def build_core(label: str, hidden: int, input_size: int):
    import torch
    if label in REFERENCES:
        kernel = {"torch_rnn": torch.nn.RNN, "torch_lstm": torch.nn.LSTM, "torch_gru": torch.nn.GRU}[label]
        rnn = kernel(input_size, hidden, batch_first=True)

        class Reference(torch.nn.Module):
            hidden_size = hidden

            def __init__(self):
                super().__init__()
                self.rnn = rnn

            def forward(self, x, state=None, *, times=None):
                return self.rnn(x, state)
        return Reference()
    from hydra import compose, initialize_config_dir

    from rnnbench.experiment import build
    spec = MODELS[label]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=[f"model={spec['model']}", "~paper", f"model.hidden_size={hidden}",
                                           *spec.get("overrides", [])])
    return build(cfg.model, "model", input_size=input_size)


def measure(label: str, shape: str, device: str, compile_net: bool) -> dict:
    """Runs in the worker subprocess."""
    import torch

    from rnnbench.allocator import reuse_freed_memory
    from rnnbench.optim import Optimization
    from rnnbench.tasks.base import Batch, SequenceNetwork
    torch.set_num_threads(1)
    torch.set_flush_denormal(True)          # as training does (config flush_denormal), for ours and the references
    reuse_freed_memory()                    # as training does (config reuse_freed_memory)
    torch.manual_seed(0)
    hidden, batch, seq_len, input_size, output_size, readout, warmup, iterations, _ = SHAPES[shape]
    core = build_core(label, hidden, input_size)
    net = SequenceNetwork(core, torch.nn.Linear(hidden, output_size), readout).to(device)
    optimization = Optimization(net, partial(torch.optim.RMSprop, lr=1e-4))
    forward = torch.compile(net) if compile_net else net
    inputs = torch.randn(batch, seq_len, input_size, device=device)
    targets = torch.randint(0, output_size, (batch, seq_len) if readout == "every" else (batch,), device=device)
    data = Batch(inputs, targets)

    def iteration():
        outputs, _ = forward(data)
        loss = torch.nn.functional.cross_entropy(outputs.reshape(-1, output_size), targets.reshape(-1))
        loss.backward()
        optimization.step(net)

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for _ in range(warmup):
        iteration()
    sync()
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        iteration()
        sync()
        times.append(time.perf_counter() - start)
    if device.startswith("cuda"):
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"model": label, "hidden": hidden, "batch": batch, "seq_len": seq_len, "device": device,
            "threads": torch.get_num_threads(), "ms_per_iter": 1000 * statistics.median(times),
            "peak_mem_mb": peak_mb}


def run_worker(label: str, shape: str, device: str, compile_net: bool) -> dict | None:
    """The fastest of the shape's fresh processes (each reports its median): a process's own noise (placement,
    page faults, a neighbour's load) only ever adds time."""
    command = [sys.executable, __file__, "--worker", label, shape, "--device", device]
    if compile_net:
        command.append("--compile")
    results = []
    for _ in range(SHAPES[shape][-1]):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"  {label} on {shape} failed: {result.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return None
        for line in result.stderr.splitlines():
            if "native kernel" in line:                 # a fallback to the pure-torch path is worth knowing
                print(f"  {label} on {shape}: {line.strip()}", file=sys.stderr)
        results.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return min(results, key=lambda r: r["ms_per_iter"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=list(MODELS), help="labels (default: every model)")
    parser.add_argument("--shapes", nargs="*", default=DEFAULT_SHAPES, choices=list(SHAPES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="torch.compile each network")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--report", type=Path, metavar="CSV", help="rewrite the report of a recorded bench CSV")
    parser.add_argument("--worker", nargs=2, metavar=("MODEL", "SHAPE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(*args.worker, args.device, args.compile)))
        return 0
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; valid: {', '.join(MODELS)}")

    if args.report:
        rows, out = read_rows(args.report), args.report
    else:
        rows = measure_all(args.models, args.shapes, args.device, args.compile)
        out = args.out or ROOT / "results" / ("bench_gpu.csv" if args.device.startswith("cuda") else "bench.csv")
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()} for row in rows)
    text = report(rows)
    out.with_suffix(".md").write_text(text)
    print(text)
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


def measure_all(models: list[str], shapes: list[str], device: str, compile_net: bool) -> list[dict]:
    rows = []
    for shape in shapes:
        labels = [label for label in models if timed_at(label, shape)]
        references = {ref: run_worker(ref, shape, device, False) for ref in REFERENCES}
        for label in labels:
            result = run_worker(label, shape, device, compile_net)
            if result is None:
                continue
            reference = references[reference_for(label)]
            result.update(ref_model=REFERENCES[reference_for(label)],
                          ref_ms_per_iter=reference["ms_per_iter"] if reference else float("nan"))
            result["ratio"] = result["ms_per_iter"] / result["ref_ms_per_iter"]
            rows.append(result)
            print(f"  {shape:<14} {label:<9} {result['ms_per_iter']:9.1f} ms  ratio {result['ratio']:.2f}",
                  flush=True)
        for ref, result in references.items():
            if result is not None:
                rows.append({**result, "ref_model": REFERENCES[ref], "ref_ms_per_iter": result["ms_per_iter"],
                             "ratio": 1.0})
    return rows


def read_rows(path: Path) -> list[dict]:
    integers, texts = {"hidden", "batch", "seq_len", "threads"}, {"model", "device", "ref_model"}
    with open(path, newline="") as f:
        return [{k: v if k in texts else int(v) if k in integers else float(v) for k, v in row.items()}
                for row in csv.DictReader(f)]


def report(rows: list[dict]) -> str:
    """The bench table and the goal checks as markdown (written next to the CSV)."""
    from tabulate import tabulate
    lines = ["# Benchmark", "", "Written by `make bench` (scripts/bench.py). Forward + backward + optimiser step per "
             "iteration, median after warm-up; ratio = ms_per_iter / ref_ms_per_iter, both from this run. On the CPU, "
             "plstm runs its native kernel (rnnbench/native; `RNNBENCH_NATIVE=0` times the pure-torch path).", "",
             tabulate([[row[c] for c in COLUMNS] for row in rows], headers=COLUMNS, tablefmt="github",
                      floatfmt=".2f")]
    checks = goal_checks(rows)
    if checks:
        lines += ["", "## Goals", "",
                  tabulate(checks, headers=["goal", "shape", "value", "bound", "holds"], tablefmt="github",
                           floatfmt=".2f")]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
