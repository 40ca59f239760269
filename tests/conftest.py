"""Shared fixtures: a fresh store per test, a populated one per session, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._postgres import PostgresServer

# Tests never write to a developer's own store.
os.environ.pop("MLTRACK_TRACKING_URI", None)
os.environ.setdefault("MLTRACK_USER", "tester")


def _reset_fluent() -> None:
    from jupyter_mltrack.tracking import fluent

    fluent.reset()


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A fresh SQLite store in a temporary folder."""
    return f"sqlite:///{tmp_path / '.mltrack' / 'mltrack.db'}"


@pytest.fixture
def client(tracking_uri: str) -> Iterator[object]:
    from jupyter_mltrack import Client

    yield Client(tracking_uri)
    _reset_fluent()


@pytest.fixture
def fluent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The module-level API on a fresh store in a temporary working directory."""
    import jupyter_mltrack as mltrack

    monkeypatch.chdir(tmp_path)
    _reset_fluent()
    yield mltrack
    _reset_fluent()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where browser tests keep screenshots: a temporary folder, or docs/screenshots/
    with MLTRACK_UPDATE_SCREENSHOTS=1 (so a test run never changes tracked files)."""
    if os.environ.get("MLTRACK_UPDATE_SCREENSHOTS"):
        return Path(__file__).resolve().parents[1] / "docs" / "screenshots"
    return tmp_path / "screenshots"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (CI=true) a skipped test is a failure: PostgreSQL, the browser, torch and
    keras are all installed there, so nothing may be silently left out."""
    if not os.environ.get("CI") or exitstatus != 0:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; every test must run in CI.",
                            red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_pg = PostgresServer()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    _pg.start()
    if _pg.unavailable:
        if os.environ.get("CI"):
            pytest.fail(_pg.unavailable)
        pytest.skip(_pg.unavailable)
    yield _pg
    _pg.stop()


@pytest.fixture
def postgres_uri(postgres_server: PostgresServer) -> Iterator[str]:
    url = postgres_server.new_database()
    yield url
    _reset_fluent()
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_uri(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on SQLite and on a real PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mltrack.db'}"
    else:
        yield request.getfixturevalue("postgres_uri")
    _reset_fluent()


@pytest.fixture
def store(store_uri: str, tmp_path: Path) -> object:
    from jupyter_mltrack.store import open_store

    return open_store(store_uri, str(tmp_path / "artifacts"))
