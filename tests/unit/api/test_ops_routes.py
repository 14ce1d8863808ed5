"""The operations page's routes: the page and its four assets are served with a policy
that keeps every script, style and request on this origin; no other file is; and the
figures need the operations or admin role (the authorization matrix checks each
caller), in the shape the page and `tsched status` read."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from scheduler.api.auth import DevelopmentSigner, Role
from scheduler.api.ops_routes import ASSETS


def test_the_page_is_served_with_a_same_origin_policy(client: TestClient) -> None:
    response = client.get("/ops")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"
    for name in ASSETS:
        assert f'"/ops/{name}"' in response.text


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_each_asset_is_served_with_its_media_type(client: TestClient, name: str) -> None:
    response = client.get(f"/ops/{name}")

    assert response.status_code == 200
    assert response.headers["content-type"] == ASSETS[name]
    assert len(response.content) > 100


@pytest.mark.parametrize(
    "name", ["index.html", "../ops_routes.py", "..%2Fops_routes.py", "vendor/uPlot.LICENSE", "x.js"]
)
def test_no_other_file_is_served(client: TestClient, name: str) -> None:
    response = client.get(f"/ops/{name}")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_the_figures_of_an_empty_store(client: TestClient, signer: DevelopmentSigner) -> None:
    token = signer.issue("ops-1", [Role.OPERATIONS])

    response = client.get("/v1/ops/status", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    body = response.json()
    assert body["due_next_hour"] == {"executions": 0, "reminders": 0}
    assert (body["waiting"], body["lag_seconds"], body["failed"], body["dead"]) == (0, 0, 0, 0)
    assert body["outbox"] == {
        "unpublished": 0,
        "counted_up_to": 10_000,
        "oldest_seconds": 0.0,
        "relay": "off",
    }
    assert body["latest_stopped"] == []
