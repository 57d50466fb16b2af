"""Import contracts (ARCHITECTURE.md "Top-level layout"): dependencies point one way.

frontend_api → cloud → tenants → shared leaf packages; agent → shared leaf packages only;
the leaf packages (hj1321, agent_protocol) import nothing of ours but each other's vocabulary.
Only the composition root cloud/app.py may import frontend_api from cloud, and only the cloud CLI may
start infra's embedded PostgreSQL.
"""

from __future__ import annotations

import ast
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
