"""Checkpoint/resume, interruption, corrupted checkpoints, full disks, changed configs, failing sweep jobs and
malformed overrides."""

import errno
import json
import os
import signal

import pytest

from conftest import CONF, SMALL, compose_config, record, run_cli, run_inprocess, run_main, start, wait_for_checkpoint

# One model per family; families whose config is not there yet are skipped.
FAMILIES = ["rnn", "lstm", "exprnn", "cwrnn"]


def available(model):
    if not (CONF / "model" / f"{model}.yaml").exists():
        pytest.skip(f"model {model} not implemented yet")


@pytest.mark.parametrize("model", FAMILIES)
def test_sigkill_after_checkpoint_then_resume_is_bit_identical(tmp_path, monkeypatch, model):
    """A run.py process killed (SIGKILL) after a checkpoint, resumed by the same command line, ends with the metrics
    of an uninterrupted run (the reference and the resume run run.py in-process: run_main)."""
    available(model)
    args = [f"model={model}", *SMALL, "trainer.max_steps=300", "trainer.checkpoint_every=50"]
    reference = run_main([*args, f"hydra.run.dir={tmp_path / 'reference'}"], monkeypatch)
    assert reference.returncode == 0, reference.stderr

    killed = tmp_path / "killed"
    process = start(args, killed)
    wait_for_checkpoint(process, killed)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert record(killed)["status"] == "running"           # killed: never recorded as completed
    step_at_kill = json.loads((killed / "checkpoint.json").read_text())["step"]
    assert step_at_kill < 300

    resumed = run_main([*args, f"hydra.run.dir={killed}"], monkeypatch)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from" in resumed.stdout
    a, b = record(tmp_path / "reference"), record(killed)
    assert b["status"] == "completed"
    assert a["metrics"] == b["metrics"] and a["best"] == b["best"]


def test_sigterm_records_interrupted_and_resumes(tmp_path, monkeypatch):
    args = ["model=rnn", *SMALL, "trainer.max_steps=1000", "trainer.checkpoint_every=50"]
    process = start(args, tmp_path)
    wait_for_checkpoint(process, tmp_path)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    rec = record(tmp_path)
    assert rec["status"] == "interrupted" and "SIGTERM" in rec["error"]
    assert (tmp_path / "metrics.csv").exists()
    resumed = run_main([*args, f"hydra.run.dir={tmp_path}"], monkeypatch)
    assert resumed.returncode == 0 and record(tmp_path)["status"] == "completed"
    assert record(tmp_path)["steps"] == 1000


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupted_checkpoint_is_reported_not_loaded(tmp_path, monkeypatch, damage):
    args = ["model=rnn", *SMALL, "trainer.max_steps=100", "trainer.checkpoint_every=50",
            f"hydra.run.dir={tmp_path}"]
    assert run_main(args, monkeypatch).returncode == 0
    path = tmp_path / "checkpoint.pt"
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    result = run_main([*args, "skip_completed=false", "trainer.max_steps=150"], monkeypatch)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "checksum mismatch" in lines[0]
    assert record(tmp_path)["status"] == "completed"                # the finished result is kept
    assert record(tmp_path, "last_attempt.json")["status"] == "failed"


# ------------------------------------------------------------------------------ full disks and changed configs
RESUMABLE = ["model=rnn", *SMALL, "trainer.max_steps=100", "trainer.checkpoint_every=50"]
CHANGES = ["optimizer.lr=0.01", "model.hidden_size=16"]


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


def full_disk_on(calls: list, failing_call: int):
    """A file writer (:func:`rnnbench.files._stage`) that raises ENOSPC at its ``failing_call``-th checkpoint file
    (counting from 1; records and curves are written normally)."""
    def write(path, data):
        if path.name.startswith("checkpoint."):
            calls.append(path)
            if len(calls) == failing_call:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return write.original(path, data)
    return write


@pytest.mark.parametrize("failing_call", [3, 4], ids=["payload", "manifest"])
def test_full_disk_during_a_checkpoint_keeps_the_previous_one_and_fails(tmp_path, monkeypatch, capsys, failing_call):
    from rnnbench import files
    _, reference = run_inprocess(tmp_path / "reference", RESUMABLE)
    calls = []
    writer = full_disk_on(calls, failing_call)              # calls 1-2: the step-50 pair, 3-4: the step-100 pair
    writer.original = files._stage
    monkeypatch.setattr(files, "_stage", writer)
    run_dir = tmp_path / "full"
    code, rec = run_inprocess(run_dir, RESUMABLE)
    assert code == 1 and rec["status"] == "failed" and "No space left on device" in rec["error"]
    assert "No space left on device" in one_line(capsys.readouterr().err)
    assert record(run_dir, "checkpoint.json")["step"] == 50
    assert sorted(p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")) == []
    monkeypatch.undo()
    code, resumed = run_inprocess(run_dir, RESUMABLE)        # the step-50 checkpoint loads and resumes exactly
    assert code == 0 and "resumed from" in capsys.readouterr().out
    assert resumed["metrics"] == reference["metrics"] and resumed["best"] == reference["best"]


def test_full_disk_while_writing_the_record_keeps_the_previous_one(tmp_path, monkeypatch, capsys):
    assert run_inprocess(tmp_path, RESUMABLE)[0] == 0
    completed = (tmp_path / "result.json").read_bytes()
    original = os.fsync

    def fsync(fd):                                   # a full disk surfaces when result.json's data is flushed
        if ".result.json." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        original(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    code, _ = run_inprocess(tmp_path, [*RESUMABLE, "skip_completed=false", "trainer.max_steps=150"])
    assert code == 1
    line = one_line(capsys.readouterr().err)
    assert "No space left on device" in line and "result.json" in line
    assert (tmp_path / "result.json").read_bytes() == completed and not list(tmp_path.glob(".result.json.*"))


@pytest.mark.parametrize("change", CHANGES)
def test_changed_config_on_a_completed_run_is_refused_and_its_record_kept(tmp_path, capsys, change):
    assert run_inprocess(tmp_path, RESUMABLE)[0] == 0
    completed = (tmp_path / "result.json").read_bytes()
    capsys.readouterr()
    code, _ = run_inprocess(tmp_path, [*RESUMABLE, "skip_completed=false", change])
    key = change.split("=")[0]
    assert code == 2 and key in one_line(capsys.readouterr().err)
    assert (tmp_path / "result.json").read_bytes() == completed
    attempt = record(tmp_path, "last_attempt.json")
    assert attempt["status"] == "failed" and key in attempt["error"]


@pytest.mark.parametrize("change", CHANGES)
def test_changed_config_on_an_interrupted_run_is_refused(tmp_path, monkeypatch, capsys, change):
    from rnnbench.tasks.copy import CopyTask
    original, calls = CopyTask.loss, []

    def loss_then_sigterm(self, outputs, batch):
        calls.append(1)
        if len(calls) == 70:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self, outputs, batch)

    monkeypatch.setattr(CopyTask, "loss", loss_then_sigterm)
    code, rec = run_inprocess(tmp_path, RESUMABLE)
    assert code == 143 and rec["status"] == "interrupted"
    monkeypatch.undo()
    manifest = (tmp_path / "checkpoint.json").read_bytes()
    capsys.readouterr()
    code, rec = run_inprocess(tmp_path, [*RESUMABLE, change])
    key = change.split("=")[0]
    assert code == 2 and key in one_line(capsys.readouterr().err) and key in rec["error"]
    assert (tmp_path / "checkpoint.json").read_bytes() == manifest
    code, rec = run_inprocess(tmp_path, RESUMABLE)            # the original config still resumes
    assert code == 0 and rec["status"] == "completed" and rec["steps"] == 100


def test_a_larger_budget_and_other_cadences_extend_a_completed_run(tmp_path):
    _, reference = run_inprocess(tmp_path / "reference", [*RESUMABLE, "trainer.max_steps=150"])
    assert run_inprocess(tmp_path / "run", RESUMABLE)[0] == 0
    code, extended = run_inprocess(tmp_path / "run", [*RESUMABLE, "skip_completed=false", "trainer.max_steps=150",
                                                      "trainer.log_every=25", "trainer.checkpoint_every=75",
                                                      "trainer.progress=true", "threads=2"])
    assert code == 0 and extended["status"] == "completed" and extended["steps"] == 150
    assert extended["metrics"] == reference["metrics"]
    assert not (tmp_path / "run" / "last_attempt.json").exists()


def test_a_smaller_budget_than_the_checkpoint_is_refused(tmp_path, capsys):
    assert run_inprocess(tmp_path, RESUMABLE)[0] == 0
    capsys.readouterr()
    code, rec = run_inprocess(tmp_path, [*RESUMABLE, "skip_completed=false", "trainer.max_steps=60"])
    assert code == 2 and "beyond this run's budget of 60 steps" in one_line(capsys.readouterr().err)
    assert rec["status"] == "completed" and rec["steps"] == 100


def test_a_checkpoint_without_a_config_resumes_with_a_warning(tmp_path, capsys):
    assert run_inprocess(tmp_path, RESUMABLE)[0] == 0
    manifest = record(tmp_path, "checkpoint.json")
    del manifest["config"]
    (tmp_path / "checkpoint.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    code, rec = run_inprocess(tmp_path, [*RESUMABLE, "skip_completed=false", "trainer.max_steps=150"])
    assert code == 0 and rec["steps"] == 150
    assert one_line(capsys.readouterr().err).startswith("warning: ")


def test_the_evaluation_cadence_matters_only_under_a_plateau_schedule():
    from omegaconf import OmegaConf

    from rnnbench.checkpoint import training_differences
    config = OmegaConf.to_container(compose_config(["model=rnn"]), resolve=True)
    changed = OmegaConf.to_container(compose_config(["model=rnn", "trainer.eval_every=7", "logger.wandb.mode=offline",
                                                     "optimizer.lr=0.5"]), resolve=True)
    assert list(training_differences(config, changed)) == ["optimizer.lr"]
    plateau = ["model=rnn", "schedule=plateau"]
    config = OmegaConf.to_container(compose_config(plateau), resolve=True)
    changed = OmegaConf.to_container(compose_config([*plateau, "trainer.eval_every=7"]), resolve=True)
    assert training_differences(config, changed) == {"trainer.eval_every": (200, 7)}


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
    ["clip.norm=-1"],
    ["schedule=cosine"],
    ["schedule=plateau", "+schedule.factor=2"],
    ["optimizer=sgd", "optimizer.momentum=0.9"],
    ["schedule=step", "+schedule.gama=0.5"],
    ["schedule=exponential", "schedule.decay_rate=1.5"],
    ["param_groups.lr_orth=-1"],
    ["optimizer._target_=torch.optim.Adamm"],
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
def test_malformed_overrides_fail_on_one_line(tmp_path, monkeypatch, args):
    result = run_main([*args, "trainer.progress=false", f"hydra.run.dir={tmp_path}"], monkeypatch)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    rec = tmp_path / "result.json"
    assert not rec.exists() or record(tmp_path)["status"] == "failed"
