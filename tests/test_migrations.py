"""Schema creation and migration (store/migrate.py and store/migrations/)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from jupyter_mltrack.errors import SchemaError
from jupyter_mltrack.store import migrate, schema
from jupyter_mltrack.store.sql import SqlStore
from jupyter_mltrack.store.sql_engine import make_engine as _make_engine
from tests.processes import run_together

MIGRATIONS = Path(migrate.__file__).parent / "migrations"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_databases(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh, empty databases of the same kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'a.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        yield server.new_database(), server.new_database()


def _describe(uri: str) -> dict[str, Any]:
    """Tables, columns, keys and indexes as the database itself reports them."""
    engine = _make_engine(uri)
    try:
        with engine.connect() as conn:
            insp = sa.inspect(conn)
            out: dict[str, Any] = {}
            for table in sorted(set(insp.get_table_names()) - {"alembic_version"}):
                out[table] = {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"],
                         None if c.get("default") is None else str(c["default"]).strip("'"))
                        for c in insp.get_columns(table)
                    ],
                    "primary_key": insp.get_pk_constraint(table)["constrained_columns"],
                    "foreign_keys": sorted(
                        (tuple(fk["constrained_columns"]), fk["referred_table"],
                         tuple(fk["referred_columns"]), fk.get("options", {}).get("ondelete"))
                        for fk in insp.get_foreign_keys(table)
                    ),
                    "indexes": sorted(
                        (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
                        for ix in insp.get_indexes(table)
                    ),
                    "unique": sorted(tuple(u["column_names"])
                                     for u in insp.get_unique_constraints(table)),
                }
            return out
    finally:
        engine.dispose()


def test_migrations_create_exactly_the_schema(two_databases: tuple[str, str]) -> None:
    declared, migrated = two_databases
    engine = _make_engine(declared)
    try:
        schema.metadata.create_all(engine)
    finally:
        engine.dispose()
    engine = _make_engine(migrated)
    try:
        migrate.ensure_schema(engine)
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.HEAD
    finally:
        engine.dispose()
    expected, actual = _describe(declared), _describe(migrated)
    assert set(actual) == {t.name for t in schema.metadata.sorted_tables}
    for table in expected:
        assert actual[table] == expected[table], table
    if declared.startswith("sqlite"):  # the DDL itself, AUTOINCREMENT included
        assert _sqlite_ddl(migrated) == _sqlite_ddl(declared)


def _sqlite_ddl(uri: str) -> dict[str, str]:
    engine = _make_engine(uri)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE name != 'alembic_version' "
                "AND name NOT LIKE 'sqlite_%'").all()
    finally:
        engine.dispose()
    return {name: " ".join((sql or "").split()) for name, sql in rows}


def test_head_is_the_newest_revision_file() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    assert script.get_heads() == [migrate.HEAD]
    chain = [rev.revision for rev in script.walk_revisions()][::-1]
    assert chain == list(migrate.ORDER)
    files = sorted(p.name for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))
    assert [name.split("_", 1)[0] for name in files] == list(migrate.ORDER)


def test_a_newer_unknown_revision_is_refused_clearly(store_uri: str, tmp_path: Path) -> None:
    store = SqlStore(store_uri, str(tmp_path))
    exp = store.create_experiment("kept")
    store.close()
    engine = _make_engine(store_uri)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaError) as info:
        SqlStore(store_uri, str(tmp_path))
    message = str(info.value)
    assert "'9999'" in message and "pip install -U jupyter_mltrack" in message
    # Refusing touched nothing.
    engine = _make_engine(store_uri)
    try:
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == "9999"
            names = conn.execute(sa.text("SELECT name FROM experiments")).scalars().all()
            assert names == ["kept"]
            assert exp == "1"
    finally:
        engine.dispose()


def test_an_older_database_is_upgraded_keeping_its_data(store_uri: str, tmp_path: Path
                                                         ) -> None:
    from alembic import command

    engine = _make_engine(store_uri)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.upgrade(config, migrate.ORDER[0])
            conn.execute(sa.text(
                "INSERT INTO experiments (name, artifact_location, lifecycle_stage) "
                "VALUES ('old', '/x', 'active')"))
            assert migrate.current_revision(conn) == migrate.ORDER[0]
    finally:
        engine.dispose()
    store = SqlStore(store_uri, str(tmp_path))
    try:
        assert store.get_experiment_by_name("old") is not None
        with store.engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.HEAD
    finally:
        store.close()


_OPENER = textwrap.dedent("""
    import os, sys, time
    from jupyter_mltrack.store.sql import SqlStore

    uri, go = sys.argv[1], sys.argv[2]
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    store = SqlStore(uri, os.path.dirname(go))
    store.get_or_create_experiment("together")
    print("alembic" in sys.modules, flush=True)
""")


def _open_together(uri: str, folder: Path, n: int) -> list[str]:
    results = run_together(_OPENER, [[uri]] * n, folder, timeout=120)
    for _, err in results:
        assert err == "", err
    return [out.strip() for out, _ in results]


@pytest.mark.slow
def test_many_processes_open_a_new_store_at_once(store_uri: str, tmp_path: Path) -> None:
    _open_together(store_uri, tmp_path, 8)
    store = SqlStore(store_uri, str(tmp_path))
    try:
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")
                                ).scalars().all() == [migrate.HEAD]
        assert [e.name for e in store.search_experiments()] == ["together"]
    finally:
        store.close()
    assert _describe(store_uri).keys() == {t.name for t in schema.metadata.sorted_tables}


def test_opening_an_up_to_date_store_does_not_load_alembic(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    SqlStore(uri, str(tmp_path)).close()
    assert _open_together(uri, tmp_path, 1) == ["False"]
