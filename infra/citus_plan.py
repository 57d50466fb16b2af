"""The Citus distribution plan of the schema, read from the models' metadata (issue 20, docs/scale.md).

ARCHITECTURE.md "Processes": past one PostgreSQL node the schema shards by ``tenant_id`` on Citus; every
tenant table carries ``tenant_id`` as the first column of its primary key and of every foreign key to
another tenant table, so a tenant's rows are colocated on one shard group and every tenant-scoped join
and foreign key stays on one node.

Tables without a tenant are classified here on purpose, never by default:

* reference tables: small, read-mostly, joined from everywhere; copied to every node;
* coordinator-local tables: platform-wide operational rows written often (sessions, login throttles),
  kept on the coordinator, which Citus joins with reference tables.

``python -m infra.citus_plan`` prints the SQL plan; ``tests/infra/test_citus_ready.py`` holds the rules.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from sqlalchemy import MetaData, Table

#: Replicated to every node (foreign keys from distributed tables into them are allowed).
REFERENCE_TABLES: frozenset[str] = frozenset(
    {"tenant", "region", "region_alert", "user_account", "billing_plan", "billing_price", "billing_coupon"}
)
#: Kept on the coordinator (platform-wide, write-heavy, never joined with tenant tables).
LOCAL_TABLES: frozenset[str] = frozenset(
    {
        "auth_throttle",  # login failures per account and address (issue 17): every replica writes, no tenant joins
    }
)
#: Alembic's own bookkeeping (cloud/db/migrations/env.py names its version table).
IGNORED_TABLES: frozenset[str] = frozenset({"ecogate_schema_version"})
DISTRIBUTION_COLUMN = "tenant_id"
#: The table every distributed table is colocated with (the largest: one shard group per tenant range).
COLOCATE_WITH = "pass_event"


@dataclass(frozen=True)
class Plan:
    """Each table's role, and whatever keeps the schema from being distributed as is."""

    distributed: tuple[str, ...]
    reference: tuple[str, ...]
    local: tuple[str, ...]
    problems: tuple[str, ...]


def _metadata() -> MetaData:
    import cloud.db.models  # noqa: F401, PLC0415 - registers every table on the shared metadata
    from tenants.base import Base  # noqa: PLC0415

    return Base.metadata


def _table_problems(table: Table, reference: frozenset[str]) -> list[str]:
    problems = []
    pk = [c.name for c in table.primary_key.columns]
    if pk[:1] != [DISTRIBUTION_COLUMN]:
        problems.append(f"{table.name}: primary key {pk} does not lead with {DISTRIBUTION_COLUMN}")
    for fk in table.foreign_key_constraints:
        target = fk.referred_table.name
        columns = list(fk.column_keys)
        if target in reference:
            continue
        if columns[:1] != [DISTRIBUTION_COLUMN]:
            problems.append(f"{table.name}: foreign key {columns} → {target} does not lead with {DISTRIBUTION_COLUMN}")
    return problems


def plan(metadata: MetaData | None = None) -> Plan:
    """Classify every table of ``metadata`` (the models' by default)."""
    metadata = metadata or _metadata()
    distributed, reference, local, problems = [], [], [], []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        name = table.name
        if name in IGNORED_TABLES:
            continue
        if name in REFERENCE_TABLES:
            reference.append(name)
            problems += [
                f"{name}: reference table has a foreign key into the distributed table {fk.referred_table.name}"
                for fk in table.foreign_key_constraints
                if fk.referred_table.name not in REFERENCE_TABLES
            ]
        elif name in LOCAL_TABLES:
            local.append(name)
        elif DISTRIBUTION_COLUMN in table.columns:
            distributed.append(name)
            problems += _table_problems(table, REFERENCE_TABLES)
        else:
            problems.append(
                f"{name}: no {DISTRIBUTION_COLUMN} and not classified: add it to REFERENCE_TABLES or LOCAL_TABLES"
                " in infra/citus_plan.py (and say why)"
            )
    return Plan(tuple(distributed), tuple(reference), tuple(local), tuple(problems))


def sql(p: Plan) -> str:
    """The statements that distribute an existing single-node schema (run as the owner, in this order)."""
    lines = ["-- EcoGate on Citus: reference tables first, then the colocated tenant tables.", "BEGIN;"]
    lines += [f"SELECT create_reference_table('{name}');" for name in p.reference]
    lines += [f"SELECT citus_add_local_table_to_metadata('{name}');" for name in p.local]
    lines.append(f"SELECT create_distributed_table('{COLOCATE_WITH}', '{DISTRIBUTION_COLUMN}');")
    lines += [
        f"SELECT create_distributed_table('{name}', '{DISTRIBUTION_COLUMN}', colocate_with => '{COLOCATE_WITH}');"
        for name in p.distributed
        if name != COLOCATE_WITH
    ]
    lines.append("COMMIT;")
    return "\n".join(lines)


def main() -> int:
    """Print the plan (and its problems, exit 1 when there are any)."""
    p = plan()
    print(sql(p))
    print(f"-- {len(p.distributed)} distributed, {len(p.reference)} reference, {len(p.local)} coordinator-local tables")
    for problem in p.problems:
        print(f"-- PROBLEM: {problem}")
    return 1 if p.problems else 0


if __name__ == "__main__":
    sys.exit(main())
