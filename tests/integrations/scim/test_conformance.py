"""scim2-tester, an independent SCIM conformance checker, against the live endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_endpoint_passes_every_check_of_scim2_tester(
    live_server: Any, make_key: Callable[..., str]
) -> None:
    http = httpx2.Client(
        base_url=f"{live_server.url}/scim/v2",
        headers={"Authorization": f"Bearer {make_key('directory:write')}"},
    )
    results = check_server(SyncSCIMClient(http))
    http.close()
    for result in results:
        print(
            f"{result.status.name:8} {result.resource_type or '-':6} {result.title}: {result.reason or ''}"
        )
        if result.status not in {Status.SUCCESS, Status.SKIPPED}:
            print("   ", result.data)
    failed = [r for r in results if r.status not in {Status.SUCCESS, Status.SKIPPED}]
    assert not failed, [(r.resource_type, r.title, r.reason) for r in failed]
    assert len(results) > 20
