"""Code revisions behind records: labels, mixed / dirty / unknown warnings, staleness on a temporary git repo."""

import os
import subprocess
from pathlib import Path

import pytest

from rnnbench.report import provenance

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_CONFIG_GLOBAL": os.devnull}
MODEL = "rnnbench/models/cwrnn.py"


def git(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], env=GIT_ENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def commit(repo, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def record(sha=None, dirty=False, model="cwrnn", task="audio") -> dict:
    return {"model": model, "task": task, "code": {"commit": sha, "dirty": dirty} if sha else None,
            "config": {"model": {"_target_": f"rnnbench.models.{model}.CWRNN"},
                       "task": {"_target_": f"rnnbench.tasks.{task}.AudioTask"}}}


@pytest.fixture
def repo(tmp_path):
    """Two commits: the first adds the model and its preset, the second changes the model."""
    git(tmp_path, "init", "-q")
    first = commit(tmp_path, {MODEL: "a = 1\n", "conf/paper/audio/cwrnn.yaml": "lr: 0.01\n", "README.md": ""}, "one")
    second = commit(tmp_path, {MODEL: "a = 2\n"}, "two")
    return tmp_path, first, second


def test_revision_labels():
    assert provenance.revision({}) == provenance.revision(record()) == "unknown"
    assert provenance.revision({"code": {"commit": None, "dirty": True}}) == "unknown"
    assert provenance.revision(record("0123456789" * 4)) == "0123456"
    assert provenance.revision(record("0123456789" * 4, dirty=True)) == "0123456+dirty"


def test_source_files_follow_the_record():
    files = provenance.source_files(record("ab" * 20), "audio", "cpu")
    assert {MODEL, "rnnbench/tasks/audio.py", "rnnbench/optim.py", "conf/model/cwrnn.yaml", "conf/task/audio.yaml",
            "conf/paper/audio/cwrnn.yaml", "conf/experiment/audio/cpu.yaml", *provenance.SHARED_CONFIGS,
            *provenance.ENTRY} == set(files)
    assert provenance.module_file("rnnbench.models.plstm.PhasedLSTM") == "rnnbench/models/plstm.py"
    assert provenance.module_file("torch.optim.SGD") is None


def test_records_from_before_a_model_change_are_stale(repo):
    root, first, second = repo
    assert provenance.changed_files(str(root), first, (MODEL, "conf/paper/audio/cwrnn.yaml")) == (MODEL,)
    assert provenance.warnings([record(second)], "audio", "cpu", root) == []
    [mixed, stale] = provenance.warnings([record(first), record(second)], "audio", "cpu", root)
    assert mixed == f"mixed code revisions: {first[:7]} (1), {second[:7]} (1)"
    assert stale == f"stale: 1 run from commit {first[:7]}; changed since: {MODEL}"


def test_dirty_and_missing_revisions_warn(repo):
    root, _, second = repo
    found = provenance.warnings([record(second, dirty=True), record(second, dirty=True), record()], "audio", "cpu",
                                root)
    assert found == [f"mixed code revisions: {second[:7]}+dirty (2), unknown (1)",
                     "2 runs from a tree with uncommitted changes (+dirty)", "1 run with no code revision (unknown)"]
    assert provenance.warnings([{"model": "lstm", "task": "audio"}], "audio", "cpu", root) == [
        "1 run with no code revision (unknown)"]


def test_commit_unknown_to_git_is_reported_not_raised(repo, tmp_path_factory):
    root, _, _ = repo
    missing = record("f" * 40)
    expected = ["revision unknown for 1 run: commit fffffff is not in this repository or git is unavailable"]
    assert provenance.warnings([missing], "audio", "cpu", root) == expected
    assert provenance.warnings([missing], "audio", "cpu", tmp_path_factory.mktemp("not_a_repo")) == expected


def test_source_files_include_variants_and_included_presets():
    root = Path(__file__).resolve().parents[1]
    run_dir = "results/records/ptb_bpc/paper/+variant=ptb_readme_nnrnn_t300,model=nnrnn,seed=0,task.bptt=300"
    files = provenance.source_files({**record(model="nnrnn", task="ptb"), "run_dir": run_dir}, "ptb_bpc", "paper",
                                    root)
    assert {"conf/paper/ptb/nnrnn.yaml", "conf/paper/ptb/language_task.yaml", "conf/variant/ptb_readme_nnrnn_t300.yaml",
            "conf/variant/ptb_readme_nnrnn_t150.yaml"} <= set(files)


def test_source_files_follow_the_imports_of_model_task_and_optimiser():
    """With the repository: every package module the record's code imports, transitively; the native kernel
    sources only for models that load them."""
    root = Path(__file__).resolve().parents[1]
    audio = {**record(), "config": {**record()["config"], "optimizer": {"_target_": "rnnbench.tf_rmsprop.TFRMSprop"}}}
    files = set(provenance.source_files(audio, "audio", "cpu", root))
    assert {MODEL, "rnnbench/models/recurrence.py", "rnnbench/tasks/base.py", "rnnbench/config_checks.py",
            "rnnbench/tf_rmsprop.py", "rnnbench/optim.py"} <= files
    assert "rnnbench/native/" not in files and "rnnbench/models/plstm.py" not in files
    plstm = {"model": "plstm", "task": "frequency",
             "config": {"model": {"_target_": "rnnbench.models.plstm.PhasedLSTM"},
                        "task": {"_target_": "rnnbench.tasks.frequency.FrequencyTask"}}}
    files = set(provenance.source_files(plstm, "frequency", "cpu", root))
    assert {"rnnbench/models/plstm.py", "rnnbench/native/", "rnnbench/native/__init__.py",
            "rnnbench/tasks/frequency.py", "rnnbench/tasks/base.py"} <= files
    assert "rnnbench/models/recurrence.py" not in files


def test_a_behaviour_check_carries_records_across_a_refactor(repo):
    """Records made where the files equal a check's ``from`` commit count as made at its ``to`` commit; a later
    change makes them stale again, named against ``to``."""
    root, first, second = repo
    assert provenance.warnings([record(first)], "audio", "cpu", root)[0].startswith("stale")
    check = "results/behaviour_checks/one-two"
    commit(root, {provenance.CHECKS: f"- {{from: {first}, to: {second}, check: {check}, what: refactor}}\n"}, "log")
    provenance.clear_caches()
    assert provenance.warnings([record(first)], "audio", "cpu", root) == []
    assert provenance.checked_commit(record(first), "audio", "cpu", root) == (second, provenance.behaviour_checks(root))
    assert provenance.carried_note([record(first)], "audio", "cpu", root).startswith(
        f"1 run carried to {second[:7]} by a behaviour check: their files equal those at {first[:7]}")
    commit(root, {MODEL: "a = 3\n"}, "three")
    provenance.clear_caches()      # HEAD moved
    [stale] = provenance.warnings([record(first)], "audio", "cpu", root)
    assert stale == f"stale: 1 run from commit {second[:7]}; changed since: {MODEL}"


def test_source_files_are_read_at_the_record_commit(repo):
    """A module the record's code imported at its commit counts even if HEAD no longer imports it."""
    root, first, _ = repo
    commit(root, {"rnnbench/tasks/audio.py": "import rnnbench.helper\n", "rnnbench/helper.py": "b = 1\n"}, "imports")
    then = commit(root, {"rnnbench/helper.py": "b = 2\n"}, "helper")
    commit(root, {"rnnbench/tasks/audio.py": "x = 1\n"}, "no import")
    provenance.clear_caches()
    assert "rnnbench/helper.py" in provenance.source_files(record(then), "audio", "cpu", root, then)
    assert "rnnbench/helper.py" not in provenance.source_files(record(then), "audio", "cpu", root)


def test_committed_behaviour_checks_hold_their_evidence():
    """Every entry of results/behaviour_checks.yaml names two fixed_runs outputs, committed and identical: one run
    per model (copy task) and per task of its commit but those its ``excluded`` prefixes name (with the reason in
    ``what``), and a prefix run per sweep combination of every cpu experiment (with ``experiments``, of those it
    lists)."""
    root = Path(__file__).resolve().parents[1]
    for check in provenance.behaviour_checks(root):
        before, after = ((root / f"{check['check']}.{side}.txt").read_text() for side in ("before", "after"))
        lines = before.splitlines()
        assert before == after and all(line.split()[1] == "completed" for line in lines), check["check"]
        names = {line.split()[0] for line in lines}
        fixed = {f"{'copy' if group == 'model' else 'task'}_{Path(name).stem}"          # as at the check's commit
                 for group in ("model", "task") for name in subprocess.run(
                     ["git", "-C", str(root), "ls-tree", "--name-only", check["to"], f"conf/{group}/"],
                     capture_output=True, text=True, check=True).stdout.split() if name.endswith(".yaml")}
        expected = {n for n in fixed if not n.startswith(tuple(check.get("excluded") or ()))}
        assert expected <= names and (not check.get("excluded") or check["what"]), check["check"]
        experiments = check.get("experiments")
        for experiment in experiments or []:
            assert any(n.startswith(f"{experiment}_cpu__") for n in names), (check["check"], experiment)
        assert experiments or len(lines) >= 50, check["check"]


def test_a_comment_in_a_config_changes_no_run(repo):
    root, _, second = repo
    commit(root, {"conf/paper/audio/cwrnn.yaml": "lr: 0.01   # the paper's\n"}, "comment")
    assert provenance.warnings([record(second)], "audio", "cpu", root) == []
    commit(root, {"conf/paper/audio/cwrnn.yaml": "lr: 0.02\n"}, "value")
    provenance.clear_caches()      # HEAD moved
    [stale] = provenance.warnings([record(second)], "audio", "cpu", root)
    assert stale.endswith("changed since: conf/paper/audio/cwrnn.yaml")


def test_a_dirty_tree_whose_changes_missed_every_loaded_file_is_its_commit(repo):
    """A sweep re-writing tracked records makes the tree dirty; a run whose ``sources`` all equal the files at its
    commit ran that commit's code and is shown as it. A changed loaded file keeps ``+dirty``."""
    root, first, _ = repo
    path = "conf/paper/audio/cwrnn.yaml"
    clean = {"code": {"commit": first, "dirty": True}, "sources": {path: provenance.file_digest(root, path, first)}}
    changed = {"code": {"commit": first, "dirty": True}, "sources": {path: "0" * 16}}
    assert provenance.revision(clean, root) == first[:7]
    assert provenance.revision(changed, root) == first[:7] + "+dirty"
