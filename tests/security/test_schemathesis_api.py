"""Issue 17: schemathesis over every OpenAPI operation as tenant admin, guard and regulator: no 500s.

A real cloud process on loopback with its own database (the fuzzing writes, signs in with wrong
passwords and may lock out its own address: nothing of it may touch other tests of the worker) is
loaded from its ``/schema/openapi.json``; for each role, every operation gets a few positive and a
few negative examples (hypothesis, derandomized) checked with every schemathesis check that applies
to one request (server errors, status codes, content types, headers and bodies against the schema,
negative data rejected, positive data accepted, missing auth refused...). Each operation signs in
again after an operation that may end the session (logout, password change), so it cannot blind
the rest.

The budget (examples per operation and mode) is ``SCHEMATHESIS_EXAMPLES`` (default 2 in CI).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.core.result import Err

from tests.sync.conftest import CloudProcess

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "2"))
PASSWORD = "Schemathesis-Passw0rd!"
ROLES = ("tenant_admin", "guard", "regulator")
#: Checks left out: the first three need a sequence of calls (stateful runs) or objects of two users;
#: positive_data_acceptance expects 2xx for any schema-valid input, but the services check rules the
#: schema cannot state (VIN check digit, plate grammar, password length, existing ids) and answer 422.
_NOT_CHECKED = {
    "use_after_free",
    "ensure_resource_availability",
    "object_level_authorization",
    "positive_data_acceptance",
}
#: Paths of operations that may end the caller's session (the next operation signs in again).
_ENDS_SESSION = ("logout", "password", "sessions", "users")


async def _seed(urls: Any) -> dict[str, str]:
    """A tenant (Wuhan, 420102) with an administrator and a guard, and a Wuhan regulator; role → login."""
    from cloud.auth.passwords import hash_password  # noqa: PLC0415
    from cloud.db.engine import Database  # noqa: PLC0415
    from cloud.settings import DatabaseSettings  # noqa: PLC0415
    from tenants.context import Principal, Role  # noqa: PLC0415
    from tenants.onboarding import (  # noqa: PLC0415
        AccountSpec,
        TenantSpec,
        add_tenant_user,
        create_staff_account,
        onboard_tenant,
    )

    database = Database.from_settings(
        DatabaseSettings(app_url=urls.app_url, owner_url=urls.owner_url, regulator_url=urls.regulator_url, pool_size=2)
    )
    suffix = uuid.uuid4().hex[:8]
    logins = {role: f"st-{role}-{suffix}" for role in ROLES}
    platform = Principal(user_id=uuid.UUID(int=1), role=Role.PLATFORM_ADMIN, login="schemathesis")
    try:

        def account(role: str) -> AccountSpec:
            return AccountSpec(login=logins[role], display_name="模糊测试", password_hash=hash_password(PASSWORD))

        spec = TenantSpec(
            name=f"模糊测试钢铁有限公司{suffix}",
            uscc=f"9142{suffix.upper()}000001"[:18],
            industry="steel",
            region_code="420102",
            grade="B",
        )
        tenant_id = await onboard_tenant(database.session, spec, account("tenant_admin"), platform)
        await add_tenant_user(database.session, tenant_id, account("guard"), Role.GUARD, platform)
        await create_staff_account(database.session, account("regulator"), "regulator", "4201")
    finally:
        await database.dispose()
    return logins


@pytest.fixture(name="fuzz_cloud", scope="module")
def fx_fuzz_cloud(admin_url: str, worker_name: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A cloud process on its own database, seeded with one account per role."""
    from cloud.db.migrate import upgrade  # noqa: PLC0415
    from tenants.bootstrap import create_database, drop_database  # noqa: PLC0415

    passwords = json.loads(os.environ["ECOGATE_TEST_ROLE_PASSWORDS"])
    name = f"ecogate_fuzz_{worker_name}"
    urls = asyncio.run(create_database(admin_url, name, passwords, recreate=True))
    upgrade(urls.owner_url)
    logins = asyncio.run(_seed(urls))
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    proc = CloudProcess(urls, tmp / "blobs", tmp / "cloud.log")
    proc.env["ECOGATE_ENV"] = "development"
    proc.blob_root.mkdir(parents=True)
    proc.start()
    try:
        yield proc, logins
    finally:
        proc.stop()
        asyncio.run(drop_database(admin_url, name))


def _token(base: str, login: str) -> str:
    response = httpx.post(f"{base}/api/v1/auth/login", json={"login": login, "password": PASSWORD}, timeout=30)
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def _fuzz_operation(operation: Any, base: str, token: str) -> list[str]:
    """Run the operation's examples; the failures found (schemathesis collects every check's failure)."""
    load_all_checks()
    checks = [c for c in CHECKS.get_all() if c.__name__ not in _NOT_CHECKED]
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            case.call_and_validate(base_url=base, headers=headers, checks=checks, timeout=30)

        try:
            run()
        except Unsatisfiable:
            continue  # no negative example exists (an operation without parameters or body)
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every failure is collected, reported together
            failures.append(f"{operation.label} [{mode.value}]: {type(exc).__name__}: {str(exc)[:1500]}")
    return failures


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_as_role(fuzz_cloud: Any, role: str) -> None:
    proc, logins = fuzz_cloud
    base = f"http://127.0.0.1:{proc.port}"
    token = _token(base, logins[role])
    document = httpx.get(f"{base}/schema/openapi.json", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert document.status_code == 200, document.text
    schema = schemathesis.openapi.from_dict(document.json())
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"invalid operation in the document: {result.err()}")
            continue
        operation = result.ok()
        operations += 1
        failures += _fuzz_operation(operation, base, token)
        if any(word in operation.path for word in _ENDS_SESSION):
            token = _token(base, logins[role])  # the operation may have ended the session
    assert operations > 50
    assert not failures, "\n\n".join(failures)
