"""An identity provider's provisioning flow, driven by scim2-client over real HTTP.

Create users, create a group with members, move a user to another group,
deactivate a user: after each step the efficiency report by team (rollups
refreshed) counts each person's spend for the team they were in when they spent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Email, EnterpriseUser, Group, GroupMember, Name, PatchOp, User

from awu.reports.rollups import rollups_refresh
from tests.awu.reports import build
from tests.conftest import Api

pytestmark = pytest.mark.django_db(transaction=True)

REPORT = "/api/v1/reports/efficiency"
MARCH = {"from": "2026-03-01", "to": "2026-03-31", "group_by": "team"}
UserE = User[EnterpriseUser]


@pytest.fixture
def idp(live_server: Any, make_key: Callable[..., str]) -> Iterator[SyncSCIMClient]:
    """What an identity provider is: a SCIM client with a directory:write key."""
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2",
        headers={"Authorization": f"Bearer {make_key('directory:write')}"},
    )
    client = SyncSCIMClient(http)
    client.discover()
    yield client
    http.close()


def spend_by_team(api: Callable[..., Api]) -> dict[str | None, Decimal]:
    rollups_refresh()
    response = api("reports:read").get(REPORT, MARCH)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["source"] == "rollups"
    return {
        row["team"]: Decimal(row["token_cost_usd"])
        for row in body["results"]
        if row["token_cost_usd"] is not None
    }


def pin(settings: Any, day: int) -> None:
    """The moment the identity provider pushes (ledger.clock)."""
    settings.AWU_NOW = f"2026-03-{day:02d}T09:00:00Z"


def new_user(idp: SyncSCIMClient, login: str, department: str) -> Any:
    user = UserE(
        user_name=f"{login}@example.com",
        external_id=f"okta-{login}",
        name=Name(given_name=login.title(), family_name="Example"),
        emails=[Email(value=f"{login}@example.com", primary=True, type="work")],
        active=True,
    )
    user[EnterpriseUser] = EnterpriseUser(department=department, cost_center="CC-7")
    return idp.create(user)


def test_users_groups_moves_and_deactivation_reach_the_team_report(
    idp: SyncSCIMClient, api: Callable[..., Api], settings: Any
) -> None:
    build.usage(actor="alice@example.com", cost="2.00", occurred_at=build.at(2))
    build.usage(actor="bob@example.com", cost="3.00", occurred_at=build.at(2))
    assert spend_by_team(api) == {None: Decimal("5")}

    # 1. Users: their emails become identities; nobody is in a team yet.
    pin(settings, 5)
    alice = new_user(idp, "alice", "Engineering")
    bob = new_user(idp, "bob", "Engineering")
    assert alice.id
    assert bob.id
    assert alice.active
    assert alice[EnterpriseUser].department == "Engineering"
    assert spend_by_team(api) == {None: Decimal("5")}

    # 2. A group with members: a first membership reaches back to earlier work.
    pin(settings, 10)
    payments = idp.create(
        Group(
            display_name="Payments",
            external_id="okta-g-payments",
            members=[GroupMember(value=alice.id), GroupMember(value=bob.id)],
        )
    )
    assert {m.value for m in payments.members} == {alice.id, bob.id}
    assert spend_by_team(api) == {"payments": Decimal("5")}

    # 3. Bob moves to Risk on the 15th: removed from Payments, added to Risk.
    pin(settings, 15)
    risk = idp.create(Group(display_name="Risk", external_id="okta-g-risk"))
    idp.modify(
        Group,
        payments.id,
        PatchOp[Group].model_validate(
            {"Operations": [{"op": "remove", "path": f'members[value eq "{bob.id}"]'}]}
        ),
    )
    idp.modify(
        Group,
        risk.id,
        PatchOp[Group].model_validate(
            {"Operations": [{"op": "add", "path": "members", "value": [{"value": bob.id}]}]}
        ),
    )
    build.usage(actor="bob@example.com", cost="7.00", occurred_at=build.at(20))
    assert spend_by_team(api) == {"payments": Decimal("5"), "risk": Decimal("7")}

    # 4. Alice is deactivated on the 22nd: her past work stays with Payments,
    #    what she spends afterwards belongs to no team.
    pin(settings, 22)
    deactivated = idp.modify(
        UserE,
        alice.id,
        PatchOp[UserE].model_validate(
            {"Operations": [{"op": "replace", "value": {"active": False}}]}
        ),
    )
    assert deactivated.active is False
    build.usage(actor="alice@example.com", cost="11.00", occurred_at=build.at(25))
    assert spend_by_team(api) == {
        "payments": Decimal("5"),
        "risk": Decimal("7"),
        None: Decimal("11"),
    }
    assert idp.query(Group, payments.id).members is None  # Bob moved, Alice left
    assert idp.query(UserE, alice.id).active is False
