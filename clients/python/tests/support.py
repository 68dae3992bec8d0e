"""What the tests share: the server and keys the driver passes in the environment, raw API requests made
as another principal (an approver, the admin), and sessions of their own per test."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Server:
    """A running `warden serve` and the keys the driver created on it."""

    url: str
    agent_key: str  # agent py-agent
    worker_key: str  # agent py-worker (the child of a delegation)
    approver_key: str  # human lee, role approver
    initiator_key: str  # service portal, permission initiator
    admin_key: str


_NAMES = {
    "url": "WARDEN_TEST_URL",
    "agent_key": "WARDEN_TEST_AGENT_KEY",
    "worker_key": "WARDEN_TEST_WORKER_KEY",
    "approver_key": "WARDEN_TEST_APPROVER_KEY",
    "initiator_key": "WARDEN_TEST_INITIATOR_KEY",
    "admin_key": "WARDEN_TEST_ADMIN_KEY",
}


def server() -> Server:
    """The server under test; a missing variable is an error (these tests never skip)."""
    missing = [env for env in _NAMES.values() if not os.environ.get(env)]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not set: these tests run against a real `warden serve`; run them through "
            "npx vitest run clients/python/test/python-client.test.ts"
        )
    return Server(**{field: os.environ[env] for field, env in _NAMES.items()})


def session(tag: str) -> str:
    """A session no other test uses."""
    return f"py-test-{tag}-{uuid.uuid4().hex[:12]}"


def api(method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    """A request made as someone else than the client under test: (status, JSON body)."""
    s = server()
    data = None if body is None else json.dumps(body).encode()
    headers = {"authorization": f"Bearer {key}"}
    if data is not None:
        headers["content-type"] = "application/json"
    req = urllib.request.Request(f"{s.url}{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, json.loads(res.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def vote_soon(approval_id: str, vote: str = "approve", delay: float = 0.2) -> threading.Thread:
    """The approver votes on the request from another thread while the guarded call waits for it."""

    def go() -> None:
        time.sleep(delay)
        status, body = api("POST", f"/v1/approvals/{approval_id}/{vote}", server().approver_key, {"reason": "test"})
        if status != 200:
            raise AssertionError(f"{vote} failed: {status} {body}")

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def events(session_id: str, type_: str | None = None) -> list[dict[str, Any]]:
    """The audit events of a session (as the admin reads them), oldest first."""
    query = f"/v1/audit/events?session={session_id}&limit=200" + (f"&type={type_}" if type_ else "")
    status, body = api("GET", query, server().admin_key)
    if status != 200:
        raise AssertionError(f"audit query failed: {status} {body}")
    return [r["event"] for r in body["records"]]


def approval(approval_id: str) -> dict[str, Any]:
    status, body = api("GET", f"/v1/approvals/{approval_id}", server().admin_key)
    if status != 200:
        raise AssertionError(f"approval read failed: {status} {body}")
    return body  # type: ignore[no-any-return]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
