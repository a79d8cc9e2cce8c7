"""Test clients that talk to the app as a real client would: a loopback Host and a token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from gridpatrol.services.tokens import create_token_at

#: The Host the API accepts by default (loopback); TestClient's own 'testserver' is refused.
BASE_URL = "http://127.0.0.1"


def make_token(app_or_url, role: str = "admin", *, name: str = "") -> str:
    """A fresh API token in the app's (or URL's) store."""
    url = app_or_url if isinstance(app_or_url, str) else app_or_url.state.settings.database_url
    return create_token_at(url, role=role, name=name or f"test {role}", actor="test")


def client_as(app, role: str | None = "admin", **kwargs) -> TestClient:
    """A TestClient with a Bearer token of ``role`` (anonymous when None)."""
    headers = dict(kwargs.pop("headers", {}) or {})
    if role is not None:
        headers["Authorization"] = f"Bearer {make_token(app, role)}"
    return TestClient(app, base_url=BASE_URL, headers=headers, **kwargs)
