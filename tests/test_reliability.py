"""Checkpoint/resume, interruption, corrupted checkpoints, failing sweep jobs and malformed overrides."""

import json
import signal

import pytest

from conftest import CONF, SMALL, record, run_cli, start, wait_for_checkpoint

# One model per family; families whose config is not there yet are skipped.
FAMILIES = ["rnn", "lstm", "exprnn", "cwrnn"]


def available(model):
    if not (CONF / "model" / f"{model}.yaml").exists():
        pytest.skip(f"model {model} not implemented yet")


@pytest.mark.parametrize("model", FAMILIES)
def test_sigkill_after_checkpoint_then_resume_is_bit_identical(tmp_path, model):
    available(model)
    args = [f"model={model}", *SMALL, "trainer.max_steps=600", "trainer.checkpoint_every=50"]
    reference = run_cli([*args, f"hydra.run.dir={tmp_path / 'reference'}"])
    assert reference.returncode == 0, reference.stderr

    killed = tmp_path / "killed"
    process = start(args, killed)
    wait_for_checkpoint(process, killed)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert record(killed)["status"] == "running"           # killed: never recorded as completed
    step_at_kill = json.loads((killed / "checkpoint.json").read_text())["step"]
    assert step_at_kill < 600

    resumed = run_cli([*args, f"hydra.run.dir={killed}"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    a, b = record(tmp_path / "reference"), record(killed)
    assert b["status"] == "completed"
    assert a["metrics"] == b["metrics"] and a["best"] == b["best"]


def test_sigterm_records_interrupted_and_resumes(tmp_path):
    args = ["model=rnn", *SMALL, "trainer.max_steps=1000", "trainer.checkpoint_every=50"]
    process = start(args, tmp_path)
    wait_for_checkpoint(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    rec = record(tmp_path)
    assert rec["status"] == "interrupted" and "SIGTERM" in rec["error"]
    assert (tmp_path / "metrics.csv").exists()
    resumed = run_cli([*args, f"hydra.run.dir={tmp_path}"])
    assert resumed.returncode == 0 and record(tmp_path)["status"] == "completed"
    assert record(tmp_path)["steps"] == 1000


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupted_checkpoint_is_reported_not_loaded(tmp_path, damage):
    args = ["model=rnn", *SMALL, "trainer.max_steps=100", "trainer.checkpoint_every=50",
            f"hydra.run.dir={tmp_path}"]
    assert run_cli(args).returncode == 0
    path = tmp_path / "checkpoint.pt"
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    result = run_cli([*args, "skip_completed=false", "trainer.max_steps=150"])
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "checksum mismatch" in lines[0]
    assert record(tmp_path)["status"] == "failed"


def test_multirun_with_one_failing_job(tmp_path):
    result = run_cli(["-m", "model=rnn", "task.T=6,0", *SMALL[:1], "task.eval_size=20", "trainer.max_steps=4",
                      "trainer.eval_every=2", "trainer.progress=false", "device=cpu", f"hydra.sweep.dir={tmp_path}"])
    records = {r["config"]["task"]["T"]: r for r in map(lambda p: json.loads(p.read_text()),
                                                         tmp_path.rglob("result.json"))}
    assert records[6]["status"] == "completed" and records[6]["steps"] == 4, result.stderr
    assert records[0]["status"] == "failed" and "task.T=0" in records[0]["error"]


MALFORMED = [
    ["seed=abc"],
    ["seed=-1"],
    ["trainer.max_steps=abc"],
    ["trainer.max_steps=0"],
    ["trainer.eval_every=-5"],
    ["optimizer.lr=fast"],
    ["optimizer.lr=0"],
    ["optimizer.clip_norm=-1"],
    ["optimizer.schedule.name=cosine"],
    ["model=rnn", "model.hidden_size=1.5"],
    ["model=rnn", "model.hidden_size=-3"],
    ["task.batch_size=0"],
    ["reuse_freed_memory=maybe"],
    ["task.T=abc"],
    ["device=tpu"],
    ["model.hiden_size=3"],
    ["trainer.max_step=3"],
    ["optimizer.aplha=0.9"],
    ["+optimizer.aplha=0.9"],
    ["+task.lenght=3"],
    ["optimizer=adagrad"],
]


@pytest.mark.parametrize("args", MALFORMED, ids=lambda a: " ".join(a))
def test_malformed_overrides_fail_on_one_line(tmp_path, args):
    result = run_cli([*args, "trainer.progress=false", f"hydra.run.dir={tmp_path}"])
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    rec = tmp_path / "result.json"
    assert not rec.exists() or record(tmp_path)["status"] == "failed"
