"""Issue 17 finding 6: bad input is a 4xx Problem Details before any work, never a 500.

NUL and control characters in JSON strings (the unauthenticated logins included), urlencoded forms,
multipart fields, query strings and paths; an integer past an ``integer`` column (``version``) and
past 64 bits; JSON nested deeper than the limit (RecursionError before); a JSON body past the size cap.
"""

from __future__ import annotations

from typing import Any

import pytest

from cloud.lib import limits
from cloud.lib.problems import ProblemError
from tests.cloud.api.test_vehicles import transport
from tests.security.conftest import PASSWORD

pytestmark = pytest.mark.anyio

VIN = "LGB5BLSX3A0000001"


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["title"])  # a Chinese title
    return body


@pytest.mark.parametrize("bad", ["a\x00b", "a\x01b", "\x1b[31m", "x\x7f"])
async def test_control_characters_in_the_json_login_are_refused(client: Any, bad: str) -> None:
    response = await client.post("/api/v1/auth/login", json={"login": bad, "password": PASSWORD})
    body = _problem(response, 422, "input_control_character")
    assert body["errors"][0]["field"] == "body.login"
    response = await client.post("/api/v1/auth/login", json={"login": "someone", "password": bad})
    _problem(response, 422, "input_control_character")


async def test_tab_and_newline_stay_allowed(client: Any) -> None:
    response = await client.post("/api/v1/auth/login", json={"login": "a\tb\n", "password": "x\r\n"})
    assert response.status_code in (400, 401, 422), response.text
    assert response.json()["code"] != "input_control_character"


async def test_nul_in_a_portal_form_login_and_in_a_query_is_refused(client: Any) -> None:
    for path in ("/login", "/staff/login"):
        response = await client.post(path, data={"login": "a\x00b", "password": PASSWORD})
        _problem(response, 422, "input_control_character")
    response = await client.get("/api/v1/vehicles?plate=%00")
    _problem(response, 422, "input_control_character")
    response = await client.get("/api/v1/blobs/ab%00cd")
    _problem(response, 422, "input_control_character")


async def test_nul_in_json_fields_and_keys_of_a_write(client: Any, make_tenant: Any, login_as: Any) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    vin = VIN
    response = await client.post("/api/v1/vehicles", json=transport(vin, fleet_name="车队\x00"), headers=headers)
    _problem(response, 422, "input_control_character")
    response = await client.post("/api/v1/vehicles", json={**transport(vin), "x\x00": 1}, headers=headers)
    _problem(response, 422, "input_control_character")


async def test_nul_in_a_multipart_field_is_a_422(client: Any, make_tenant: Any, login_as: Any) -> None:
    headers = await login_as((await make_tenant()).admin_login)
    csv = "车牌号码,号牌颜色\n鄂A12345,黄\n".encode()
    response = await client.post(
        "/api/v1/compliance/blacklist/import",
        headers=headers,
        data={"list_name": "名单\x00"},
        files={"file": ("a.csv", csv, "text/csv")},
    )
    assert response.status_code < 500, response.text
    if response.status_code != 200:
        _problem(response, 422, "input_control_character")


async def test_integer_past_the_column_and_past_64_bits(client: Any, make_tenant: Any, login_as: Any) -> None:
    tenant = await make_tenant()
    headers = await login_as(tenant.admin_login)
    created = await client.post("/api/v1/vehicles", json=transport(VIN), headers=headers)
    assert created.status_code == 201, created.text
    url = f"/api/v1/vehicles/{created.json()['id']}/reviews"
    body = {"decision": "verified", "reason": "复核"}
    response = await client.post(url, json={**body, "version": 2147483648}, headers=headers)
    _problem(response, 422, "value_out_of_range")
    response = await client.post(url, json={**body, "version": 2**64}, headers=headers)
    _problem(response, 422, "value_out_of_range")


async def test_deep_json_is_refused_before_decoding(client: Any) -> None:
    for opener, closer in ((b"[", b"]"), (b'{"a":', b"}")):
        deep = opener * 100_000 + b"1" + closer * 100_000
        response = await client.post("/api/v1/auth/login", content=deep, headers={"content-type": "application/json"})
        _problem(response, 400, "json_too_deep")
    # Brackets inside strings do not count.
    response = await client.post("/api/v1/auth/login", json={"login": "[" * 500, "password": "{" * 500})
    assert response.status_code != 400 or response.json()["code"] != "json_too_deep"


async def test_json_body_past_the_cap_is_a_413(client: Any) -> None:
    big = b'{"login": "' + b"a" * (limits.MAX_JSON_BYTES + 10) + b'", "password": "x"}'
    response = await client.post("/api/v1/auth/login", content=big, headers={"content-type": "application/json"})
    _problem(response, 413, "request_too_large")


def test_depth_counter_unit() -> None:
    limits.check_depth(b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}')
    limits.check_depth(b"[" * limits.MAX_JSON_DEPTH + b"]" * limits.MAX_JSON_DEPTH)
    with pytest.raises(ProblemError):
        limits.check_depth(b"[" * (limits.MAX_JSON_DEPTH + 1))
