"""The frontend is rebuilt exactly when its sources change (mlops_hub/deploy/frontend.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlops_hub.deploy import frontend

REPO = Path(__file__).resolve().parents[2]


def _copy_sources(tmp_path: Path) -> Path:
    for rel in frontend.SOURCES:
        src = REPO / "labextension" / rel
        dst = tmp_path / "labextension" / rel
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    return tmp_path


def test_hash_changes_with_a_source_and_not_with_a_component_test(tmp_path):
    repo = _copy_sources(tmp_path)
    before = frontend.sources_hash(repo)
    (repo / "labextension/src/__tests__/fakes.ts").write_text("// edited test helper\n")
    assert frontend.sources_hash(repo) == before
    (repo / "labextension/src/format.ts").write_text("// edited\n")
    assert frontend.sources_hash(repo) != before


def test_an_up_to_date_build_runs_no_node(tmp_path, monkeypatch):
    repo = _copy_sources(tmp_path)
    out = repo / frontend.OUTPUT
    out.mkdir(parents=True)
    (out / frontend.STAMP).write_text(frontend.sources_hash(repo) + "\n")
    monkeypatch.setattr(frontend, "jlpm", lambda *a: (_ for _ in ()).throw(AssertionError("node ran")))
    assert frontend.build_frontend(repo) == out


def test_a_changed_source_rebuilds_and_stamps(tmp_path, monkeypatch):
    repo = _copy_sources(tmp_path)
    out = repo / frontend.OUTPUT
    out.mkdir(parents=True)
    (out / frontend.STAMP).write_text("old\n")
    ran = []
    monkeypatch.setattr(frontend, "jlpm", lambda _repo, *args: ran.append(args))
    frontend.build_frontend(repo)
    assert ran == [("install", "--immutable"), ("build:prod",)]
    assert (out / frontend.STAMP).read_text().strip() == frontend.sources_hash(repo)
