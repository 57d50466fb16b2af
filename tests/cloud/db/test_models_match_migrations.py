"""The SQLAlchemy models and the migrations describe the same schema (no drift).

A database migrated to head (this worker's ``db_urls``, built by ``cloud.db.migrate.upgrade``) is
compared with ``cloud.db.models`` by Alembic's autogenerate comparison, the same one ``alembic
revision --autogenerate`` would run: any table, column, type, index, unique or foreign-key
constraint that exists on one side only, and any column whose type, nullability or server default
differs, fails the test with the list of differences. Alembic compares neither check constraints
nor the predicates of partial indexes, so this test adds both: check constraints by name, and each
partial index's WHERE as PostgreSQL itself normalises it (the model's predicate is put on a probe
index inside a transaction that is rolled back).
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import CheckConstraint, Connection, Index, Table, UniqueConstraint, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.schema import DefaultClause, ForeignKeyConstraint, SchemaItem
from sqlalchemy.sql.elements import ClauseElement, TextClause

from cloud.db import models as m
from cloud.db.engine import asyncpg_url
from cloud.db.migrate import alembic_config

#: The migrations' bookkeeping table (cloud/db/migrate.py); Alembic skips it when told its name.
VERSION_TABLE = alembic_config("").get_main_option("version_table") or "ecogate_schema_version"

#: Tables deliberately without a model: the security tables of migration 0015 are reached only through
#: SECURITY DEFINER functions called with text SQL (cloud/auth/sessions.py, cloud/auth/login.py), and no
#: application role has privileges on them (ADR 0028 §2; tests/cloud/isolation/test_rls_coverage.py).
#: A model would invite ORM reads that the database refuses.
TABLES_WITHOUT_MODEL = frozenset({"auth_throttle", "user_session"})

#: Known differences being reconciled elsewhere, as (table, object name): none (the uplink models state the
#: constraints and server defaults of their migrations since session 8). Add one only with the work that removes it.
KNOWN_DIFFERENCES: frozenset[tuple[str, str]] = frozenset()


def _table_of(item: SchemaItem) -> str:
    if isinstance(item, Table):
        return item.name
    if isinstance(item, Index | UniqueConstraint | ForeignKeyConstraint):
        table = item.table
        return table.name if table is not None else "?"
    return "?"


def _shown(value: object) -> str:
    """A column property for the report: a server default as its SQL text, anything else as repr."""
    if isinstance(value, DefaultClause):
        value = value.arg
    if isinstance(value, TextClause):
        return value.text
    if isinstance(value, ClauseElement):
        return str(value.compile(compile_kwargs={"literal_binds": True}))
    return repr(value)


def _describe(diff: Any) -> tuple[str, str, str]:
    """(table, object name, readable line) for one entry of ``compare_metadata``'s answer."""
    if isinstance(diff, list):  # column modifications come as a list of tuples of one column
        kind, _schema, table, column = diff[0][:4]
        changes = "; ".join(f"{d[0]}: database {_shown(d[-2])} → model {_shown(d[-1])}" for d in diff)
        return table, column, f"{table}.{column}: {changes}"
    kind, item = diff[0], diff[1]
    if kind in {"add_column", "remove_column"}:
        _schema, table, column = diff[1], diff[2], diff[3]
        side = "model only" if kind == "add_column" else "database only"
        return table, column.name, f"{table}.{column.name}: column, {side}"
    side = "model only" if kind.startswith("add_") else "database only"
    table = _table_of(item)
    name = str(getattr(item, "name", None) or "")
    what = kind.split("_", 1)[1]
    detail = ""
    if isinstance(item, Index | UniqueConstraint):
        columns = ", ".join(c.name for c in item.columns)
        unique = " unique" if isinstance(item, Index) and item.unique else ""
        where = item.dialect_options["postgresql"].get("where") if isinstance(item, Index) else None
        detail = f"{unique} ({columns})" + (f" WHERE {where}" if where is not None else "")
    elif isinstance(item, ForeignKeyConstraint):
        detail = f" ({', '.join(item.column_keys)}) → {item.referred_table.name}"
    return table, name or what, f"{table}: {what} {name}{detail}, {side}"


def _check_constraints(connection: Connection) -> list[tuple[str, str, str]]:
    """Check constraints present on one side only, by name (the naming convention makes them comparable)."""
    inspector = inspect(connection)
    database = set(inspector.get_table_names())
    described = []
    for table in m.Base.metadata.sorted_tables:
        if table.name not in database:
            continue  # reported as a missing table already
        in_model = {str(c.name) for c in table.constraints if isinstance(c, CheckConstraint)}
        in_database = {str(c["name"]) for c in inspector.get_check_constraints(table.name)}
        described += [(table.name, n, f"{table.name}: check {n}, model only") for n in in_model - in_database]
        described += [(table.name, n, f"{table.name}: check {n}, database only") for n in in_database - in_model]
    return described


_PREDICATE = text(
    "SELECT pg_get_expr(i.indpred, i.indrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE c.relname = :name AND c.relnamespace = 'public'::regnamespace"
)
_PROBE = "ix_models_match_migrations_probe"


def _predicate(connection: Connection, index_name: str) -> str | None:
    value = connection.execute(_PREDICATE, {"name": index_name}).scalar()
    return None if value is None else str(value)


def _partial_indexes(connection: Connection) -> list[tuple[str, str, str]]:
    """Indexes whose WHERE differs: the model's predicate normalised by PostgreSQL on a rolled-back probe index."""
    database = set(inspect(connection).get_table_names())
    described = []
    for table in m.Base.metadata.sorted_tables:
        if table.name not in database:
            continue
        for index in table.indexes:
            where = index.dialect_options["postgresql"].get("where")
            in_database = _predicate(connection, str(index.name))
            if where is None and in_database is None:
                continue
            in_model = None
            if where is not None:
                sql = str(where.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
                column = next(iter(index.columns)).name
                with connection.begin_nested() as probe:
                    connection.exec_driver_sql(f'CREATE INDEX {_PROBE} ON "{table.name}" ("{column}") WHERE {sql}')
                    in_model = _predicate(connection, _PROBE)
                    probe.rollback()
            if in_model != in_database:
                line = f"{table.name}: index {index.name} WHERE database {in_database!r} → model {in_model!r}"
                described.append((table.name, str(index.name), line))
    return described


def _compare(connection: Connection) -> tuple[list[tuple[str, str, str]], set[str]]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "version_table": VERSION_TABLE,
            "target_metadata": m.Base.metadata,
        },
    )
    described = [_describe(diff) for diff in compare_metadata(context, m.Base.metadata)]
    checks, partial = _check_constraints(connection), _partial_indexes(connection)
    return described + checks + partial, set(inspect(connection).get_table_names())


async def _differences(owner_url: str) -> tuple[list[tuple[str, str, str]], set[str]]:
    engine = create_async_engine(asyncpg_url(owner_url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_compare)
    finally:
        await engine.dispose()


def test_models_match_migrations(db_urls: object) -> None:
    described, tables = asyncio.run(_differences(db_urls.owner_url))  # type: ignore[attr-defined]
    assert tables >= TABLES_WITHOUT_MODEL, "the allow-listed tables no longer exist: shorten TABLES_WITHOUT_MODEL"
    drift = sorted(
        line
        for table, name, line in described
        if table not in TABLES_WITHOUT_MODEL and (table, name) not in KNOWN_DIFFERENCES
    )
    assert not drift, "models (cloud/db/models, tenants) and migrations differ:\n" + "\n".join(drift)
