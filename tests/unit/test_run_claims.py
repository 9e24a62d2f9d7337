"""A test run's claim on its stack names: which stacks a run that is gone left behind (run_claims.py)."""

from __future__ import annotations

from tests.integration import run_claims


def test_a_record_whose_run_is_gone_names_its_stack_and_a_live_ones_does_not(tmp_path):
    (tmp_path / "mlopsold").write_text("111 boot-a\n")
    (tmp_path / "mlopsbeside").write_text("222 boot-a\n")
    alive = {(222, "boot-a")}
    stale = run_claims.claim("mlopsnew", tmp_path, alive=lambda pid, boot: (pid, boot) in alive, me=(333, "boot-a"))
    assert stale == ["mlopsold"]
    assert (tmp_path / "mlopsnew").read_text() == "333 boot-a\n"
    assert (tmp_path / "mlopsbeside").exists()  # a run still going keeps its stacks and its record


def test_our_own_name_is_never_named_stale_and_a_cut_record_is(tmp_path):
    (tmp_path / "mlopsnew").write_text("111 boot-a\n")  # an earlier run of ours: the hub fixture removes it
    (tmp_path / "mlopscut").write_text("")  # the kill came while the record was written
    stale = run_claims.claim("mlopsnew", tmp_path, alive=lambda pid, boot: False, me=(5, "b"))
    assert stale == ["mlopscut"]
    run_claims.release("mlopscut", tmp_path)
    run_claims.release("mlopsnew", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_pid_of_another_boot_or_another_program_is_not_a_live_run():
    import os
    import subprocess

    assert run_claims.pytest_alive(os.getpid(), run_claims.boot_id())  # this very pytest
    assert not run_claims.pytest_alive(os.getpid(), "another-boot")
    other = subprocess.Popen(["sleep", "30"])  # a reused pid: alive, but not a pytest
    try:
        assert not run_claims.pytest_alive(other.pid, run_claims.boot_id())
    finally:
        other.kill()
        other.wait()
    assert not run_claims.pytest_alive(other.pid, run_claims.boot_id())
