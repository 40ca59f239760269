"""Run context capture (tracking/context.py): user, git state, providers."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mltrack.tracking import context


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "repo"
    folder.mkdir()
    _git(folder, "init", "-q", "-b", "feature")
    _git(folder, "config", "user.email", "t@example.org")
    _git(folder, "config", "user.name", "T")
    (folder / "train.py").write_text("print(1)\n")
    _git(folder, "add", "train.py")
    _git(folder, "commit", "-q", "-m", "first")
    context._git_cache = None
    yield folder
    context._git_cache = None


def test_git_commit_branch_and_dirty_flag(repo: Path) -> None:
    sub = repo / "notebooks"
    sub.mkdir()
    tags = context.git_context(sub)
    assert tags[context.GIT_COMMIT] == _git(repo, "rev-parse", "HEAD")
    assert tags[context.GIT_BRANCH] == "feature"
    assert tags[context.GIT_DIRTY] == "false"
    assert Path(tags[context.GIT_REPO]) == repo.resolve()
    (repo / "train.py").write_text("print(2)\n")
    context._git_cache = None
    assert context.git_context(sub)[context.GIT_DIRTY] == "true"


def test_packed_refs_and_detached_heads(repo: Path) -> None:
    head = _git(repo, "rev-parse", "HEAD")
    _git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "feature").exists()
    context._git_cache = None
    assert context.git_context(repo)[context.GIT_COMMIT] == head
    _git(repo, "checkout", "-q", "--detach")
    context._git_cache = None
    tags = context.git_context(repo)
    assert tags[context.GIT_COMMIT] == head and context.GIT_BRANCH not in tags


def test_worktrees(repo: Path, tmp_path: Path) -> None:
    _git(repo, "worktree", "add", "-q", "-b", "other", str(tmp_path / "wt"))
    context._git_cache = None
    tags = context.git_context(tmp_path / "wt")
    assert tags[context.GIT_BRANCH] == "other"
    assert tags[context.GIT_COMMIT] == _git(repo, "rev-parse", "HEAD")


def test_outside_a_repository(tmp_path: Path) -> None:
    context._git_cache = None
    assert context.git_context(tmp_path) == {}


def test_current_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLTRACK_USER", "alice")
    monkeypatch.setenv("JUPYTERHUB_USER", "bob")
    assert context.current_user() == "alice"
    monkeypatch.delenv("MLTRACK_USER")
    assert context.current_user() == "bob"
    monkeypatch.delenv("JUPYTERHUB_USER")
    assert context.current_user()


def test_providers_add_tags_and_a_failing_one_is_skipped() -> None:
    def broken() -> dict[str, str]:
        raise RuntimeError("no context today")

    context.register_context_provider("test-extra", lambda: {"extra": "1"})
    context.register_context_provider("test-broken", broken)
    try:
        tags = context.run_context()
        assert tags["extra"] == "1"
        assert tags[context.USER] == "tester"
    finally:
        context.unregister_context_provider("test-extra")
        context.unregister_context_provider("test-broken")
    assert "extra" not in context.run_context()
