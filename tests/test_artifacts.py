"""Artifact repositories (artifacts/) and path validation (artifacts/paths.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from jupyter_mltrack.artifacts import _FACTORIES as FACTORIES
from jupyter_mltrack.artifacts import (
    FsspecArtifactRepository,
    LocalArtifactRepository,
    artifact_repository,
    clean_artifact_path,
    register_artifact_repository,
)
from jupyter_mltrack.entities import FileInfo
from jupyter_mltrack.errors import InvalidArtifactPath, NotFound

HOSTILE = [
    "..", "../x", "a/../../x", "a/..", "./../x", "a/b/../../../x",
    "/etc/passwd", "//server/share", "~", "~/x", "~root/.ssh/id_rsa",
    "C:x", "c:\\windows", "C:/windows", "z:",
    "a\\..\\b", "..\\x", "\\\\server\\share",
    "%2e%2e%2f", "%2e%2e/x", "%2E%2E%2Fx", "a%2f..%2f..%2fx", "%2fetc%2fpasswd", "%5c",
    "%252e%252e%252f", "%25252e%25252e%25252fx", "%252525252e%252525252e",
    "%7e/x", "%00", "a\x00b", "a\nb", "tab\there", "a\x1fb",
    "x" * 1025,
]

SAFE = {
    "": "",
    ".": "",
    "./": "",
    "plots/loss.png": "plots/loss.png",
    "a//b/./c.txt": "a/b/c.txt",
    "dir/": "dir",
    "a b/c d.txt": "a b/c d.txt",
    "100%.txt": "100%.txt",
    "ümlaut/日本.png": "ümlaut/日本.png",
    "\uff0e\uff0e/fullwidth": "\uff0e\uff0e/fullwidth",  # full-width dots are a name
    "...": "...",
    "a/.hidden": "a/.hidden",
    "x~": "x~",
}


@pytest.mark.parametrize("path", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_paths_are_refused(path: str) -> None:
    with pytest.raises(InvalidArtifactPath):
        clean_artifact_path(path)


@pytest.mark.parametrize(("path", "clean"), SAFE.items())
def test_safe_paths_are_normalised(path: str, clean: str) -> None:
    assert clean_artifact_path(path) == clean


def test_other_path_types() -> None:
    assert clean_artifact_path(None) == ""
    assert clean_artifact_path(Path("a/b.txt")) == "a/b.txt"  # type: ignore[arg-type]
    with pytest.raises(InvalidArtifactPath, match="text"):
        clean_artifact_path(b"../x")  # type: ignore[arg-type]


def test_error_messages_say_how_to_fix() -> None:
    with pytest.raises(InvalidArtifactPath, match="relative path inside"):
        clean_artifact_path("../x")
    with pytest.raises(InvalidArtifactPath, match="percent-encoded"):
        clean_artifact_path("a%20b")


# -- the local repository ----------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> LocalArtifactRepository:
    return artifact_repository(str(tmp_path / "runs" / "1" / "artifacts"))


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    (folder / "nested" / "deeper").mkdir(parents=True)
    (folder / "top.txt").write_text("top")
    (folder / "nested" / "mid.csv").write_text("a,b\n1,2\n")
    (folder / "nested" / "deeper" / "bottom.bin").write_bytes(bytes(range(256)))
    return folder


def test_local_round_trip(repo: LocalArtifactRepository, source: Path, tmp_path: Path) -> None:
    assert isinstance(repo, LocalArtifactRepository)
    assert repo.list() == []  # nothing yet, no folder yet
    assert repo.log_file(source / "top.txt") == "top.txt"
    assert repo.log_file(source / "top.txt", "copies/one") == "copies/one/top.txt"
    repo.log_dir(source, "tree")
    repo.write_bytes("notes/readme.md", b"# hi")
    assert repo.read_bytes("top.txt") == b"top"
    assert repo.read_bytes("tree/nested/deeper/bottom.bin") == bytes(range(256))
    assert repo.read_bytes("notes/readme.md") == b"# hi"
    assert repo.list() == [FileInfo("copies", True, None), FileInfo("notes", True, None),
                           FileInfo("top.txt", False, 3), FileInfo("tree", True, None)]
    assert repo.list("tree/nested") == [FileInfo("tree/nested/deeper", True, None),
                                        FileInfo("tree/nested/mid.csv", False, 8)]
    assert repo.list("top.txt") == [FileInfo("top.txt", False, 3)]
    assert repo.list("missing") == []
    # Overwriting replaces the content.
    repo.write_bytes("top.txt", b"new")
    assert repo.read_bytes("top.txt") == b"new"
    # Downloads: a file, a folder, everything.
    dst = tmp_path / "dst"
    one = Path(repo.download("tree/nested/mid.csv", dst))
    assert one == dst / "mid.csv" and one.read_text() == "a,b\n1,2\n"
    folder = Path(repo.download("tree", dst / "f"))
    assert (folder / "nested" / "deeper" / "bottom.bin").read_bytes() == bytes(range(256))
    everything = Path(repo.download("", dst / "all"))
    assert everything.name == "artifacts"
    assert sorted(p.relative_to(everything).as_posix() for p in everything.rglob("*")
                  if p.is_file()) == [
        "copies/one/top.txt", "notes/readme.md", "top.txt", "tree/nested/deeper/bottom.bin",
        "tree/nested/mid.csv", "tree/top.txt"]
    assert Path(repo.local_path("top.txt")).read_bytes() == b"new"
    repo.delete_all()
    assert repo.list() == []


def test_local_missing_things(repo: LocalArtifactRepository, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        repo.read_bytes("nope.txt")
    with pytest.raises(NotFound):
        repo.download("nope", tmp_path / "dst")
    with pytest.raises(NotFound, match="not a file"):
        repo.log_file(tmp_path / "missing.txt")
    with pytest.raises(NotFound, match="not a folder"):
        repo.log_dir(tmp_path / "missing")
    with pytest.raises(InvalidArtifactPath, match="needs a name"):
        repo.write_bytes("", b"x")


def test_no_temporary_files_are_left_or_listed(repo: LocalArtifactRepository) -> None:
    repo.write_bytes("a.txt", b"1")
    repo.write_bytes("a.txt", b"2")
    root = Path(repo.root)
    assert sorted(p.name for p in root.iterdir()) == ["a.txt"]
    (root / ".a.txt.123.tmp").write_bytes(b"half")  # what a crashed writer leaves
    assert repo.list() == [FileInfo("a.txt", False, 1)]


@pytest.mark.parametrize("path", ["../escape.txt", "/abs.txt", "%2e%2e%2fescape.txt",
                                  "a/../../escape.txt", "C:/x.txt", "..\\x.txt"])
def test_local_repository_refuses_hostile_paths_everywhere(repo: LocalArtifactRepository,
                                                           source: Path, tmp_path: Path,
                                                           path: str) -> None:
    before = sorted(p for p in tmp_path.rglob("*"))
    for call in (lambda: repo.write_bytes(path, b"x"),
                 lambda: repo.read_bytes(path),
                 lambda: repo.list(path),
                 lambda: repo.download(path, tmp_path / "dst"),
                 lambda: repo.log_file(source / "top.txt", path),
                 lambda: repo.log_dir(source, path),
                 lambda: repo.local_path(path)):
        with pytest.raises(InvalidArtifactPath):
            call()
    assert sorted(p for p in tmp_path.rglob("*")) == before


@pytest.fixture
def with_links(repo: LocalArtifactRepository, tmp_path: Path) -> LocalArtifactRepository:
    """An artifact root holding symlinks that lead outside it (and one that does not)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = Path(repo.root)
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "ok.txt").write_text("ok")
    os.symlink(outside, root / "linkdir")
    os.symlink(outside / "secret.txt", root / "link.txt")
    os.symlink(root / "sub" / "ok.txt", root / "inner-link.txt")
    return repo


def test_symlinks_leading_outside_are_refused(with_links: LocalArtifactRepository,
                                              tmp_path: Path) -> None:
    repo = with_links
    for path in ("link.txt", "linkdir/secret.txt", "linkdir"):
        with pytest.raises(InvalidArtifactPath, match="symbolic link"):
            repo.read_bytes(path)
        with pytest.raises(InvalidArtifactPath, match="symbolic link"):
            repo.download(path, tmp_path / "dst")
    with pytest.raises(InvalidArtifactPath):
        repo.list("linkdir")
    with pytest.raises(InvalidArtifactPath):
        repo.write_bytes("linkdir/planted.txt", b"x")
    with pytest.raises(InvalidArtifactPath):
        repo.write_bytes("link.txt", b"overwritten")
    assert (tmp_path / "outside" / "secret.txt").read_text() == "secret"
    assert not (tmp_path / "outside" / "planted.txt").exists()
    # A link that stays inside the root is just a file.
    assert repo.read_bytes("inner-link.txt") == b"ok"


def test_downloading_a_folder_never_copies_what_links_lead_to(
        with_links: LocalArtifactRepository, tmp_path: Path) -> None:
    repo = with_links
    root = Path(repo.root)
    os.symlink(tmp_path / "outside", root / "sub" / "deep")
    for path in ("", "sub"):
        dst = tmp_path / f"dst-{len(path)}"
        with pytest.raises(InvalidArtifactPath, match="symbolic link"):
            repo.download(path, dst)
        assert not any(p.name == "secret.txt" for p in dst.rglob("*"))


def test_file_uris_are_local(tmp_path: Path) -> None:
    repo = artifact_repository(f"file://{tmp_path / 'art'}")
    assert isinstance(repo, LocalArtifactRepository)
    repo.write_bytes("a.txt", b"1")
    assert (tmp_path / "art" / "a.txt").read_bytes() == b"1"


# -- fsspec ----------------------------------------------------------------------------


@pytest.fixture
def memory_repo() -> Iterator[FsspecArtifactRepository]:
    repo = artifact_repository(f"memory://mltrack-tests/{uuid.uuid4().hex}/artifacts")
    yield repo
    repo.delete_all()


def test_fsspec_memory_round_trip(memory_repo: FsspecArtifactRepository, source: Path,
                                  tmp_path: Path) -> None:
    repo = memory_repo
    assert isinstance(repo, FsspecArtifactRepository)
    assert repo.list() == []
    assert repo.log_file(source / "top.txt", "copies") == "copies/top.txt"
    repo.log_dir(source, "tree")
    repo.write_bytes("notes/readme.md", b"# hi")
    assert repo.read_bytes("copies/top.txt") == b"top"
    assert repo.read_bytes("tree/nested/deeper/bottom.bin") == bytes(range(256))
    assert repo.list() == [FileInfo("copies", True, None), FileInfo("notes", True, None),
                           FileInfo("tree", True, None)]
    assert repo.list("tree/nested") == [FileInfo("tree/nested/deeper", True, None),
                                        FileInfo("tree/nested/mid.csv", False, 8)]
    one = Path(repo.download("notes/readme.md", tmp_path / "dst"))
    assert one.read_bytes() == b"# hi"
    folder = Path(repo.download("tree", tmp_path / "dst2"))
    assert folder.name == "tree"
    assert (folder / "nested" / "deeper" / "bottom.bin").read_bytes() == bytes(range(256))
    assert (folder / "top.txt").read_text() == "top"
    with pytest.raises(NotFound):
        repo.read_bytes("nope")
    with pytest.raises(NotFound):
        repo.download("nope", tmp_path / "dst3")
    repo.delete_all()
    assert repo.list() == []


@pytest.mark.parametrize("path", ["../x", "/x", "%2e%2e%2fx", "a/../../x", "~/x", ""])
def test_fsspec_refuses_hostile_paths(memory_repo: FsspecArtifactRepository, path: str) -> None:
    with pytest.raises(InvalidArtifactPath):
        memory_repo.write_bytes(path, b"x")
    assert memory_repo.list() == []


def test_custom_artifact_backends_register(tmp_path: Path) -> None:
    made: list[str] = []

    def factory(root: str) -> LocalArtifactRepository:
        made.append(root)
        return LocalArtifactRepository(str(tmp_path / "custom"))

    register_artifact_repository("custom", factory)
    try:
        repo = artifact_repository("custom://somewhere/run")
        repo.write_bytes("a.txt", b"1")
    finally:
        FACTORIES.pop("custom", None)
    assert made == ["custom://somewhere/run"]
    assert (tmp_path / "custom" / "a.txt").read_bytes() == b"1"
