"""URI parsing (uris.py): runs:/, models:/, tracking URIs and the default store location."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_mltrack.errors import InvalidURI
from jupyter_mltrack.uris import (
    ModelsURI,
    RunsURI,
    default_artifact_root,
    default_tracking_uri,
    find_store_dir,
    parse_models_uri,
    parse_runs_uri,
    resolve_tracking_uri,
    sqlite_uri,
)

RUN = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (f"runs:/{RUN}/model", RunsURI(RUN, "model")),
        (f"runs:/{RUN}/a/b/c.pkl", RunsURI(RUN, "a/b/c.pkl")),
        (f"runs:/{RUN}", RunsURI(RUN, "")),
        (f"runs:/{RUN}/", RunsURI(RUN, "")),
        (f"runs:///{RUN}/model/", RunsURI(RUN, "model")),
    ],
)
def test_runs_uris(uri: str, expected: RunsURI) -> None:
    assert parse_runs_uri(uri) == expected


@pytest.mark.parametrize("uri", ["run:/x", "models:/m/1", f"runs:/{RUN[:-1]}/m",
                                 f"runs:/{RUN.upper()}/m", "runs:/", f"{RUN}/m", ""])
def test_bad_runs_uris(uri: str) -> None:
    with pytest.raises(InvalidURI, match="runs:/<run_id>"):
        parse_runs_uri(uri)


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/clf/3", ModelsURI("clf", version=3)),
        ("models:/clf/Production", ModelsURI("clf", stage="Production")),
        ("models:/clf/staging", ModelsURI("clf", stage="Staging")),
        ("models:/clf/ARCHIVED", ModelsURI("clf", stage="Archived")),
        ("models:/clf/None", ModelsURI("clf", stage="None")),
        ("models:/clf/latest", ModelsURI("clf")),
        ("models:/clf@champion", ModelsURI("clf", alias="champion")),
        ("models:/my model/1", ModelsURI("my model", version=1)),
        ("models:/my%20model/2", ModelsURI("my model", version=2)),
        ("models:/team/clf/4", ModelsURI("team/clf", version=4)),
        ("models:/clf/3/", ModelsURI("clf", version=3)),
    ],
)
def test_models_uris(uri: str, expected: ModelsURI) -> None:
    assert parse_models_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("model:/clf/1", "not a models URI"),
        ("models:/clf", "names no version"),
        ("models:/clf/", "names no version"),
        ("models:/", "names no version"),
        ("models://1", "names no version"),
        ("models:/clf/prod", "neither a version number"),
        ("models:/clf/1.5", "neither a version number"),
        ("models:/clf@", "models:/<name>@<alias>"),
        ("models:/@champion", "models:/<name>@<alias>"),
    ],
)
def test_bad_models_uris(uri: str, message: str) -> None:
    with pytest.raises(InvalidURI, match=message):
        parse_models_uri(uri)


# -- tracking URIs and the default store ------------------------------------------------


def test_find_store_dir_walks_up_like_git(tmp_path: Path) -> None:
    project = tmp_path / "project"
    deep = project / "notebooks" / "week1"
    deep.mkdir(parents=True)
    assert find_store_dir(deep) == deep.resolve() / ".mltrack"  # none yet: here
    (project / ".mltrack").mkdir()
    assert find_store_dir(deep) == (project / ".mltrack").resolve()
    (deep / ".mltrack").mkdir()
    assert find_store_dir(deep) == (deep / ".mltrack").resolve()  # the nearest wins


def test_a_file_named_mltrack_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / ".mltrack").write_text("not a folder")
    sub = tmp_path / "sub"
    sub.mkdir()
    assert find_store_dir(sub) == sub.resolve() / ".mltrack"


def test_default_tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLTRACK_TRACKING_URI", raising=False)
    expected = f"sqlite:///{tmp_path.resolve() / '.mltrack' / 'mltrack.db'}"
    assert default_tracking_uri() == expected
    assert resolve_tracking_uri(None) == expected
    assert resolve_tracking_uri("") == expected
    monkeypatch.setenv("MLTRACK_TRACKING_URI", str(tmp_path / "elsewhere"))
    assert resolve_tracking_uri(None) == sqlite_uri(tmp_path / "elsewhere" / "mltrack.db")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@db:5432/ml", "postgresql://u:p@db:5432/ml"),
        ("postgres://u@db/ml", "postgresql://u@db/ml"),
        ("postgresql+psycopg://u@db/ml", "postgresql+psycopg://u@db/ml"),
        ("mysql://u@db/ml", "mysql://u@db/ml"),
        ("https://tracking.example.org", "https://tracking.example.org"),
        ("sqlite:////abs/path/m.db", "sqlite:////abs/path/m.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
    ],
)
def test_tracking_uris_with_schemes(given: str, expected: str) -> None:
    assert resolve_tracking_uri(given) == expected


def test_paths_become_absolute_sqlite_uris(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    here = tmp_path.resolve()
    assert resolve_tracking_uri("store") == f"sqlite:///{here / 'store' / 'mltrack.db'}"
    assert resolve_tracking_uri(here / "store") == f"sqlite:///{here / 'store' / 'mltrack.db'}"
    for name in ("x.db", "x.sqlite", "x.sqlite3"):
        assert resolve_tracking_uri(name) == f"sqlite:///{here / name}"
    assert resolve_tracking_uri(f"file://{here}/f") == f"sqlite:///{here / 'f' / 'mltrack.db'}"
    assert resolve_tracking_uri(f"file:{here}/f") == f"sqlite:///{here / 'f' / 'mltrack.db'}"
    monkeypatch.setenv("HOME", str(here))
    assert resolve_tracking_uri("~/ml") == f"sqlite:///{here / 'ml' / 'mltrack.db'}"


def test_relative_sqlite_uris_are_pinned_to_the_current_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLAlchemy would resolve them at each connect, and the artifact root derived from
    # them would be stored relative: both change meaning when the folder changes.
    monkeypatch.chdir(tmp_path)
    uri = resolve_tracking_uri("sqlite:///sub/m.db")
    assert uri == f"sqlite:///{tmp_path.resolve() / 'sub' / 'm.db'}"
    assert Path(default_artifact_root(uri)).is_absolute()


@pytest.mark.parametrize("uri", ["s3://bucket/x", "ftp://host/x", "gs://b"])
def test_unknown_schemes_are_refused_with_a_hint(uri: str) -> None:
    with pytest.raises(InvalidURI, match=r"sqlite:///path/mltrack\.db"):
        resolve_tracking_uri(uri)


def test_default_artifact_roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / ".mltrack" / "mltrack.db"
    assert default_artifact_root(sqlite_uri(db)) == str(tmp_path.resolve() / ".mltrack"
                                                        / "artifacts")
    monkeypatch.setenv("MLTRACK_ARTIFACT_ROOT", "s3://bucket/artifacts")
    assert default_artifact_root("postgresql://u@db/ml") == "s3://bucket/artifacts"
    monkeypatch.delenv("MLTRACK_ARTIFACT_ROOT")
    monkeypatch.chdir(tmp_path)
    assert default_artifact_root("postgresql://u@db/ml") == str(
        tmp_path.resolve() / ".mltrack" / "artifacts")
