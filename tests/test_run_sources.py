"""A record's provenance is what ran: the digests of the modules its process loaded and the configs it composed."""

import shutil
from pathlib import Path

import pytest

from rnnbench.report import provenance
from rnnbench.sources import digest, loaded_modules

from conftest import ROOT, record, run_cli


@pytest.fixture(scope="module")
def copy_record(tmp_path_factory):
    """A tiny copy-task run in its own process (this test process has loaded every module)."""
    run_dir = tmp_path_factory.mktemp("run")
    result = run_cli(["model=rnn", "task=copy", "task.T=5", "task.eval_size=4", "trainer.max_steps=2",
                      "trainer.eval_every=2", "trainer.progress=false", "device=cpu", "model.hidden_size=4",
                      f"hydra.run.dir={run_dir}"])
    assert result.returncode == 0, result.stderr
    return record(run_dir)


def test_digests_ignore_comments_and_layout_only():
    code = "x = 1\n"
    assert digest("a.py", code) == digest("a.py", "# a comment\nx = (\n    1)\n") != digest("a.py", "x = 2\n")
    assert digest("c.yaml", "a: 1\n") == digest("c.yaml", "a: 1   # why\n") != digest("c.yaml", "a: 2\n")
    assert digest("conf/experiment/e/cpu.yaml", "a: 1\nreproduce: {sweeps: [x]}\n") == digest(
        "conf/experiment/e/cpu.yaml", "a: 1\n")                   # the sweep definition sets nothing in a run
    assert digest("k.cpp", "int a;") != digest("k.cpp", "int  a;") and digest("x.py", None) is None


def test_a_record_lists_every_loaded_module_and_composed_config(copy_record):
    """The training loop and the entry point are in it (the import walk of earlier records missed them); the
    reporting modules and other models, which this run never loaded, are not."""
    sources = copy_record["sources"]
    assert {"run.py", "rnnbench/train.py", "rnnbench/experiment.py", "rnnbench/models/rnn.py",
            "rnnbench/tasks/copy.py", "rnnbench/models/recurrence.py", "rnnbench/optim.py", "conf/config.yaml",
            "conf/model/rnn.yaml", "conf/task/copy.yaml", "conf/paper/copy/rnn.yaml", "conf/optimizer/rmsprop.yaml",
            "conf/schedule/none.yaml"} <= set(sources)
    assert sources["rnnbench/train.py"] == digest("rnnbench/train.py", (ROOT / "rnnbench/train.py").read_text())
    assert not {"rnnbench/models/plstm.py", "rnnbench/report/plots.py", "rnnbench/report/tables.py"} & set(sources)


def test_loaded_modules_are_the_checkouts_own():
    modules = loaded_modules()
    assert "rnnbench/sources.py" in modules and all(not m.startswith(".venv") for m in modules)
    assert all((ROOT / m).is_file() for m in modules)


def copy_of(root: Path, files: list[str], into: Path) -> Path:
    for name in files:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, into / name)
    return into


def test_a_changed_loaded_module_makes_the_record_stale_and_an_unloaded_one_does_not(copy_record, tmp_path):
    """Staleness compares the record's digests with the files now: a line changed in rnnbench/train.py (loaded by
    every run) warns; a change to rnnbench/report/plots.py (loaded by none) does not. The checkout here is a copy
    outside git, so the record's revision is unknown but its digests still decide."""
    sources = copy_record["sources"]
    repo = copy_of(ROOT, [*sources, "rnnbench/report/plots.py"], tmp_path / "checkout")
    rec = {"model": "rnn", "task": "copy", "code": {"commit": "f" * 40, "dirty": False}, "sources": sources}
    provenance.clear_caches()
    assert not any(w.startswith("stale") for w in provenance.warnings([rec], "copy", "cpu", repo))
    (repo / "rnnbench/report/plots.py").write_text("changed = True\n")
    provenance.clear_caches()
    assert not any(w.startswith("stale") for w in provenance.warnings([rec], "copy", "cpu", repo))
    train = repo / "rnnbench/train.py"
    train.write_text(train.read_text().replace("ENDS_ABOVE = 1.5", "ENDS_ABOVE = 1.6"))
    provenance.clear_caches()
    [stale] = [w for w in provenance.warnings([rec], "copy", "cpu", repo) if w.startswith("stale")]
    assert stale == "stale: 1 run from commit fffffff; changed since: rnnbench/train.py"


def test_records_without_sources_count_the_entry_point_and_training_loop():
    """Records made before ``sources``: the import walk starts at the entry point, so the training loop, the
    records and checkpoints modules count for every table."""
    rec = {"model": "rnn", "task": "copy", "config": {"model": {"_target_": "rnnbench.models.rnn.RNN"},
                                                      "task": {"_target_": "rnnbench.tasks.copy.CopyTask"}}}
    files = set(provenance.source_files(rec, "copy", "cpu", ROOT))
    assert {"run.py", "rnnbench/experiment.py", "rnnbench/train.py", "rnnbench/checkpoint.py",
            "rnnbench/records.py"} <= files
