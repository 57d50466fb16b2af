"""``SendAgentCommand`` through the JSON API: a remote release goes through the hub's one home for it
(``cloud.hub.commands.remote_release``: an active agent, a lane of its site, a reason, who and what,
audited), the same function the portal's 特批放行 calls; other operator commands are stored and audited.
"""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.anyio


async def test_remote_release_and_operator_commands(client, make_tenant, login_as, seed_passes) -> None:
    tenant = await make_tenant()
    ledger = await seed_passes(tenant.tenant_id, [])
    headers = await login_as(tenant.admin_login)
    url = f"/api/v1/agents/{ledger.agent_id}/commands"

    async def refused(body: dict[str, object]) -> tuple[int, str, list[str]]:
        response = await client.post(url, json=body, headers=headers)
        problem = response.json()
        return response.status_code, problem["code"], [e.get("field", "") for e in problem.get("errors") or []]

    assert await refused({"name": "open_barrier", "reason": "来访车辆"}) == (422, "validation_failed", ["lane_id"])
    unknown_lane = {"name": "open_barrier", "lane_id": str(uuid.uuid4()), "reason": " "}
    assert await refused(unknown_lane) == (422, "validation_failed", ["lane_id", "reason"])
    typed = {"name": "open_barrier", "lane_id": str(ledger.lane_in), "reason": "来访车辆", "plate": "ABC"}
    assert await refused(typed) == (422, "validation_failed", ["plate"])

    released = await client.post(
        url,
        json={
            "name": "open_barrier",
            "lane_id": str(ledger.lane_in),
            "reason": "来访车辆，核实后放行",
            "plate": "鄂a12345",
        },
        headers=headers,
    )
    assert released.status_code == 201, released.text
    args = released.json()["args"]
    assert (args["lane_id"], args["reason"], args["plate"], args["operator"]) == (
        str(ledger.lane_in),
        "来访车辆，核实后放行",
        "鄂A12345",
        tenant.admin_login,
    )
    assert args["operator_name"]
    reload = await client.post(url, json={"name": "reload_config"}, headers=headers)
    assert reload.status_code == 201, reload.text
    assert reload.json()["args"] == {}

    log = await client.get("/api/v1/audit-log", params={"action": "agent.command."}, headers=headers)
    assert log.status_code == 200, log.text
    audited = {item["action"]: item["detail"] for item in log.json()["items"]}
    assert audited["agent.command.open_barrier"]["command_id"] == released.json()["id"]
    assert audited["agent.command.open_barrier"]["plate"] == "鄂A12345"
    assert audited["agent.command.reload_config"] == {"command_id": reload.json()["id"]}

    revoked = await client.post(
        f"/api/v1/agents/{ledger.agent_id}/revoke", json={"reason": "设备报废"}, headers=headers
    )
    assert revoked.status_code == 200, revoked.text
    for body in ({"name": "open_barrier", "lane_id": str(ledger.lane_in), "reason": "x"}, {"name": "reload_config"}):
        status, code, _ = await refused(body)
        assert (status, code) == (409, "agent_revoked"), body
    listed = await client.get(url, headers=headers)
    assert listed.json()["total"] == 2
