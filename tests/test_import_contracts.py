"""Import contracts (ARCHITECTURE.md "Top-level layout"): dependencies point one way.

frontend_api → cloud → tenants → shared leaf packages; agent → shared leaf packages only;
the leaf packages (hj1321, agent_protocol) import nothing of ours but each other's vocabulary.
Only the composition root cloud/app.py may import frontend_api from cloud, and only the cloud CLI may
start infra's embedded PostgreSQL.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"cloud", "agent", "tenants", "frontend_api", "hj1321", "agent_protocol", "infra", "ecogate_cli"}
ALLOWED: dict[str, set[str]] = {
    "hj1321": {"hj1321"},
    "agent_protocol": {"agent_protocol", "hj1321"},
    "agent": {"agent", "agent_protocol", "hj1321"},
    "tenants": {"tenants", "hj1321", "agent_protocol"},
    "cloud": {"cloud", "tenants", "hj1321", "agent_protocol"},
    "frontend_api": {"frontend_api", "cloud", "tenants", "hj1321", "agent_protocol"},
}
#: Third-party packages the agent must never import (an agent-only install has none of them).
AGENT_FORBIDDEN = {"litestar", "sqlalchemy", "alembic", "asyncpg", "stripe", "uvicorn"}
EXCEPTIONS = {
    ROOT / "cloud" / "app.py": {"frontend_api"},
    # Command-line entry points may start the embedded PostgreSQL of infra/ (dev and demo only).
    ROOT / "cloud" / "cli" / "_common.py": {"infra"},
    ROOT / "cloud" / "cli" / "db.py": {"infra"},
    # `ecogate backup` drives PostgreSQL's tools and restores into an embedded server (infra/backup.py).
    ROOT / "cloud" / "cli" / "backup.py": {"infra"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_point_one_way(package: str) -> None:
    bad: list[str] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        allowed = ALLOWED[package] | EXCEPTIONS.get(path, set())
        ours = _imports(path) & OURS
        forbidden = ours - allowed
        if package == "agent":
            forbidden |= _imports(path) & AGENT_FORBIDDEN
        if forbidden:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(forbidden)}")
    assert not bad, "\n".join(bad)


# One write path for the ledger (issue 15, ADR 0024) -------------------------------------------------

#: Where rows of the ledger's record tables may be written: the ledger package, the migrations (DDL and
#: back-fills) and the benchmarks' bulk generators (bench/ is not scanned).
LEDGER_WRITERS = (ROOT / "cloud" / "ledger", ROOT / "cloud" / "db" / "migrations")
#: Scanned for writes: every package of ours, the CLI and the tests.
SCANNED = ("cloud", "frontend_api", "tenants", "infra", "agent", "agent_protocol", "hj1321", "tests")
_RECORDS = "PassEvent|PassCorrection|Weighing"
_TABLES = "pass_event|pass_correction|weighing"
#: Writes of the record tables: ORM constructors and Core inserts/updates of the models, the Core table,
#: raw SQL.
_WRITE_PATTERNS = (
    re.compile(rf"\b(?:m|models)\.(?:{_RECORDS})\("),
    re.compile(rf"\b(?:pg_)?(?:insert|update|delete)\(\s*(?:m\.|models\.)?(?:{_RECORDS})\b"),
    re.compile(rf"\b(?:{_RECORDS})\.__table__"),
    re.compile(rf"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:{_TABLES})\b", re.IGNORECASE),
)
#: Test files that write the record tables in raw SQL on purpose, with the reason.
RAW_SQL_ALLOWED = {
    # An insider with the owner's rights tampers with rows stored through the ledger; the chain
    # verification must name each change.
    "tests/compliance/test_chain.py": "insider tampering with ledger rows",
    "tests/compliance/test_workflows.py": "insider deletes a ledger row; verification catches it",
    # The application and regulator roles must be refused these writes (append-only, RLS).
    "tests/cloud/isolation/test_raw_sql.py": "asserts the app role cannot update",
    "tests/uplink/test_regulator_api.py": "asserts the regulator role cannot write",
    "tests/cloud/api/test_pass_corrections.py": "asserts pass_correction is append-only",
}


def _ledger_writes(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if any(p.search(line) for p in _WRITE_PATTERNS):
            found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    return found


def test_only_the_ledger_writes_pass_events_corrections_and_weighings() -> None:
    """Nothing outside cloud/ledger inserts into or updates pass_event, pass_correction or weighing."""
    bad: list[str] = []
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if any(path.is_relative_to(w) for w in LEDGER_WRITERS):
                continue
            writes = _ledger_writes(path)
            rel = str(path.relative_to(ROOT))
            if rel in RAW_SQL_ALLOWED:
                writes = [w for w in writes if not re.search(r"\b(?:INSERT|UPDATE|DELETE)\b", w)]
            bad.extend(writes)
    assert not bad, "write pass events, corrections and weighings through cloud.ledger:\n" + "\n".join(bad)


def test_the_contract_scan_sees_a_write() -> None:
    """The scan above is not blind: the ledger's own writes are found by the same patterns."""
    assert _ledger_writes(ROOT / "cloud" / "ledger" / "passes.py")
    assert _ledger_writes(ROOT / "cloud" / "ledger" / "corrections.py")
    assert _ledger_writes(ROOT / "cloud" / "ledger" / "weighings.py")  # a PostgreSQL insert (pg_insert)


# One writer of check flags (the review queue) -----------------------------------------------------------

#: Where ``check_flag`` rows may be written: the compliance checks (``run_checks`` and
#: ``checks.open_pass_flags``, which the agent's weighing findings and ``weighing_missing`` go through).
FLAG_WRITERS = (ROOT / "cloud" / "compliance", ROOT / "cloud" / "db" / "migrations")
#: Files that still write ``check_flag`` rows themselves. FROZEN: this list may only shrink (the test says
#: when an entry is no longer needed); a new writer — a test seeding flags too — calls
#: ``checks.open_pass_flags``.
FLAG_WRITES_ONLY_SHRINK: dict[str, str] = {}
_FLAG_PATTERNS = (
    re.compile(r"\b(?:m|models)\.CheckFlag\("),
    re.compile(r"\b(?:pg_)?(?:insert|update|delete)\(\s*(?:m\.|models\.)?CheckFlag\b"),
    re.compile(r"\bCheckFlag\.__table__"),
    re.compile(r"\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+check_flag\b", re.IGNORECASE),
)


def _flag_writes(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}"
        for n, line in enumerate(lines, start=1)
        if any(p.search(line) for p in _FLAG_PATTERNS)
    ]


def test_only_the_compliance_checks_write_check_flags() -> None:
    """Flags are opened by the compliance checks' writer (idempotent per code and subject, chained at commit)."""
    bad: list[str] = []
    writing: set[str] = set()
    for package in SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if any(path.is_relative_to(w) for w in FLAG_WRITERS):
                continue
            found = _flag_writes(path)
            rel = str(path.relative_to(ROOT))
            if found:
                writing.add(rel)
            if rel not in FLAG_WRITES_ONLY_SHRINK:
                bad.extend(found)
    assert not bad, "open check flags through cloud.compliance.checks.open_pass_flags:\n" + "\n".join(bad)
    stale = sorted(set(FLAG_WRITES_ONLY_SHRINK) - writing)
    assert not stale, f"these files no longer write check_flag: remove them from FLAG_WRITES_ONLY_SHRINK: {stale}"
    assert _flag_writes(ROOT / "cloud" / "compliance" / "checks.py")  # the scan is not blind


#: Modules of ``tenants`` the database models may use (the declarative base, ids, the tenancy models).
MODELS_MAY_IMPORT = {"cloud.db", "tenants.base", "tenants.ids", "tenants.models"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):  # function-level imports too: a lazy import is still a dependency
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_database_models_import_nothing_above_the_database_layer() -> None:
    """cloud/db/models import no domain code (the old _compliance.py ↔ compliance/chain.py loop)."""
    bad = []
    for path in sorted((ROOT / "cloud" / "db" / "models").rglob("*.py")):
        for name in sorted(_imported_modules(path)):
            if name.split(".")[0] not in OURS:
                continue
            if not any(name == allowed or name.startswith(allowed + ".") for allowed in MODELS_MAY_IMPORT):
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


#: frontend_api files that still import cloud.db (ARCHITECTURE.md "Who writes what": frontend_api calls
#: services, not cloud.db). FROZEN: this list may only shrink. A new file must call the services; a file
#: that stops importing cloud.db must be removed from the list (the test says so).
FRONTEND_API_CLOUD_DB_ALLOWLIST_ONLY_SHRINKS = frozenset(
    {
        "frontend_api/api/agents.py",
        "frontend_api/api/auth.py",
        "frontend_api/api/compliance.py",
        "frontend_api/api/compliance_records.py",
        "frontend_api/api/passes.py",
        "frontend_api/api/regulator.py",
        "frontend_api/api/reports.py",
        "frontend_api/api/uplink.py",
        "frontend_api/api/users.py",
        "frontend_api/api/vehicles.py",
        "frontend_api/portal/admin.py",
        "frontend_api/portal/enterprise.py",
        "frontend_api/portal/enterprise_admin.py",
        "frontend_api/portal/enterprise_agents.py",
        "frontend_api/portal/enterprise_reports.py",
        "frontend_api/portal/enterprise_vehicles.py",
        "frontend_api/portal/regulator.py",
    }
)


def test_frontend_api_cloud_db_imports_only_shrink() -> None:
    importing = {
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "frontend_api").rglob("*.py"))
        if any(n == "cloud.db" or n.startswith("cloud.db.") for n in _imported_modules(path))
        or "from cloud import db" in path.read_text(encoding="utf-8")
    }
    new = sorted(importing - FRONTEND_API_CLOUD_DB_ALLOWLIST_ONLY_SHRINKS)
    assert not new, f"frontend_api must call services, not cloud.db: {new}"
    clean = sorted(FRONTEND_API_CLOUD_DB_ALLOWLIST_ONLY_SHRINKS - importing)
    assert not clean, f"these files no longer import cloud.db: remove them from the allowlist: {clean}"


# Billing never gates the ledger (issue 22, ADR 0033) ---------------------------------------------------------

#: The ledger path: ingest, gate decisions, the ledger's writes, the regulator uplink.
LEDGER_PATH = ("cloud/ledger", "cloud/hub", "cloud/uplink", "agent")


def test_the_ledger_path_imports_no_billing() -> None:
    """Nothing on the ledger path can consult billing: no ``cloud.billing``, no ``stripe``, lazily or not."""
    bad = []
    for folder in LEDGER_PATH:
        for path in sorted((ROOT / folder).rglob("*.py")):
            bad.extend(
                f"{path.relative_to(ROOT)} imports {name}"
                for name in sorted(_imported_modules(path))
                if name in {"cloud.billing", "stripe"} or name.startswith(("cloud.billing.", "stripe."))
            )
            if "from cloud import billing" in path.read_text(encoding="utf-8"):
                bad.append(f"{path.relative_to(ROOT)} imports cloud.billing")
    assert not bad, "billing never gates the ledger (ADR 0033):\n" + "\n".join(bad)


def test_the_billing_contract_scan_sees_an_import() -> None:
    """The scan above is not blind: the billing API module's import of cloud.billing is found."""
    assert "cloud.billing" in _imported_modules(ROOT / "frontend_api" / "api" / "billing.py")
