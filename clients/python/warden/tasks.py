"""The request bodies of tasks: starting one (``POST /v1/tasks``) and RFC 8693 token exchange
(``POST /v1/tasks/token``), checked before anything is sent."""

from __future__ import annotations

from typing import Any, Mapping

from .context import make_context
from .errors import ConfigInvalid

_TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
_TASK_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
#: Names the actor of an exchange by agent name (the parent's key authenticates the exchange).
_AGENT_ACTOR_TYPE = "urn:warden:params:oauth:token-type:agent"


def start_task_body(
    agent: str,
    initiator: Mapping[str, str] | None,
    id_token: str | None,
    session: str | None,
    labels: Mapping[str, str] | None,
    ttl: int | None,
) -> dict[str, Any]:
    """The body of ``POST /v1/tasks``; who initiates the task is required (an ID token or an initiator)."""
    if id_token is None and initiator is None:
        raise ConfigInvalid(
            "CONFIG_INVALID",
            "start_task needs who initiates the task: id_token (the person signed in with your identity "
            'provider) or initiator={"subject": ..., "name": ...} (vouched for by a service key with the '
            "initiator permission)",
        )
    body: dict[str, Any] = {"agent": agent}
    if id_token is not None:
        body["idToken"] = id_token
    if initiator is not None:
        subject = initiator.get("subject") if isinstance(initiator, Mapping) else None
        if not isinstance(subject, str) or subject == "":
            raise ConfigInvalid(
                "CONFIG_INVALID", 'initiator needs a "subject": the person\'s stable id at your backend'
            )
        body["initiator"] = {"subject": subject, "name": initiator.get("name") or subject}
    if session is not None:
        body["session"] = make_context(session=session).session
    if labels is not None:
        body["labels"] = dict(make_context(labels=labels).labels or {})
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 86_400:
            raise ConfigInvalid("CONFIG_INVALID", f"ttl must be whole seconds from 1 to 86400, got {ttl!r}")
        body["ttl"] = ttl
    return body


def exchange_body(parent_token: str, child_agent: str, ttl: int | None) -> dict[str, Any]:
    """The body of an RFC 8693 token exchange: the parent's task token for one of ``child_agent``."""
    if not isinstance(child_agent, str) or child_agent == "":
        raise ConfigInvalid("CONFIG_INVALID", f"delegate needs the child agent's name, got {child_agent!r}")
    body: dict[str, Any] = {
        "grant_type": _TOKEN_EXCHANGE_GRANT,
        "subject_token": parent_token,
        "subject_token_type": _TASK_TOKEN_TYPE,
        "actor_token": child_agent,
        "actor_token_type": _AGENT_ACTOR_TYPE,
    }
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 86_400:
            raise ConfigInvalid("CONFIG_INVALID", f"ttl must be whole seconds from 1 to 86400, got {ttl!r}")
        body["ttl"] = ttl
    return body
