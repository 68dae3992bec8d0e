"""Task tokens as the client handles them: refused early when they cannot be one, read (never verified:
Warden verifies) to show which session a client is in."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from .errors import ConfigInvalid

#: The header that carries a task token on every request that decides a call or waits for one.
TASK_TOKEN_HEADER = "Warden-Task-Token"

_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


def task_token_problem(token: object) -> str | None:
    """Why ``token`` cannot be a task token (it could not even be sent as a header), or None."""
    if not isinstance(token, str) or token == "":
        return "it is empty or not a string"
    if len(token) > 16_384:
        return "it is longer than any task token (16 KiB)"
    if not _COMPACT_JWS.match(token):
        return "it is not a signed token (header.payload.signature in base64url)"
    return None


def check_task_token(token: object, where: str) -> str:
    """Returns ``token`` if it can be a task token; otherwise raises ConfigInvalid naming ``where``."""
    problem = task_token_problem(token)
    if problem is None:
        return token  # type: ignore[return-value]
    raise ConfigInvalid(
        "CONFIG_INVALID",
        f"{where} is not a task token: {problem}; pass the token that start_task, delegate or "
        "POST /v1/tasks returned",
    )


def read_task_token(token: str) -> dict[str, str]:
    """What a task token says about itself (session, agent, task_id), read without verifying it."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        padded = parts[1] + "=" * (-len(parts[1]) % 4)
        claims: Any = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError):
        return {}
    if not isinstance(claims, dict):
        return {}
    out: dict[str, str] = {}
    for name in ("session", "agent", "task_id"):
        value = claims.get(name)
        if isinstance(value, str) and value:
            out[name] = value
    return out
