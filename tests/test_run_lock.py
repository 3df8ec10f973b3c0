"""One process per run directory: a second one is skipped naming the holder, a killed holder leaves no stale
lock, and a sweep launched twice at once runs each job once."""

import os
import signal
import socket
import subprocess
import sys
from collections import Counter

import torch

from rnnbench import runlock
from rnnbench.experiment import LOCKED_EXIT, run

from conftest import ROOT, SMALL, compose_config, record, run_inprocess, run_main, start, wait_for_checkpoint


def test_a_locked_directory_is_skipped_naming_the_holder(tmp_path, capsys):
    with runlock.hold(tmp_path):
        code = run(compose_config(["model=rnn", *SMALL, "trainer.max_steps=4"]), tmp_path)
    lines = capsys.readouterr().err.splitlines()
    assert code == LOCKED_EXIT and len(lines) == 1
    assert lines[0].startswith(f"skipped: {tmp_path} is locked by another run (pid {os.getpid()} on "
                               f"{socket.gethostname()} since ")
    assert not (tmp_path / "result.json").exists()                 # the holder's record is not touched
    with runlock.hold(tmp_path):                                    # released at the end of the block
        pass


def test_second_process_is_refused_then_a_killed_holder_is_resumed_bit_identically(tmp_path, monkeypatch, capsys):
    args = ["model=rnn", *SMALL, "trainer.max_steps=600", "trainer.checkpoint_every=50"]
    _, reference = run_inprocess(tmp_path / "reference", args)
    run_dir = tmp_path / "run"
    first = start(args, run_dir)
    wait_for_checkpoint(first, run_dir)
    first.send_signal(signal.SIGSTOP)                               # holds the lock, frozen mid-run
    try:
        second = run_main([*args, f"hydra.run.dir={run_dir}"], monkeypatch)
        assert second.returncode == LOCKED_EXIT, second.stderr
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and str(run_dir) in lines[0] and f"pid {first.pid} on " in lines[0], second.stderr
        assert record(run_dir)["status"] == "running"
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
    code, final = run_inprocess(run_dir, args)                     # this process now gets the lock
    assert code == 0 and "resumed from" in capsys.readouterr().out
    assert final["status"] == "completed" and final["metrics"] == reference["metrics"]
    assert final["best"] == reference["best"]
    params = [torch.load(d / "checkpoint.pt", weights_only=False)["model"] for d in (tmp_path / "reference", run_dir)]
    assert params[0].keys() == params[1].keys()
    assert all(torch.equal(params[0][name], params[1][name]) for name in params[0])


def test_a_sweep_launched_twice_at_once_runs_each_job_once(tmp_path):
    seeds = range(3)
    command = [sys.executable, str(ROOT / "run.py"), "-m", "model=rnn", f"seed={','.join(map(str, seeds))}", *SMALL,
               "trainer.max_steps=100", "trainer.checkpoint_every=50", f"hydra.sweep.dir={tmp_path}"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sweeps = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    outputs = [sweep.communicate(timeout=300) for sweep in sweeps]
    assert [sweep.returncode for sweep in sweeps] == [0, 0], outputs
    run_dirs = sorted(path.parent for path in tmp_path.rglob("result.json"))
    assert len(run_dirs) == len(seeds) and all(record(d)["status"] == "completed" for d in run_dirs)
    stdout = "".join(out for out, _ in outputs)
    started = Counter(line.split("run_dir ")[1] for line in stdout.splitlines() if "  run_dir " in line)
    assert started == {str(d): 1 for d in run_dirs}, stdout
    skipped = [line for _, err in outputs for line in err.splitlines() if line.startswith("skipped: ")]
    assert skipped and all("is locked by another run (pid " in line for line in skipped), outputs
