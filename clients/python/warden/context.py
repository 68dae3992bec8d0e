"""Who and what a call belongs to, set for a stretch of work with ``with warden.context(...)``: a
``contextvars`` variable, so it follows threads started with ``contextvars.copy_context``, asyncio tasks
and ``asyncio.to_thread`` the way the TypeScript SDK's AsyncLocalStorage follows ``await``."""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

from .errors import ConfigInvalid
from .task_token import check_task_token


@dataclass(frozen=True)
class CallContext:
    """The session (one agent task), the person who started it, the agents it was delegated through,
    labels a policy can test, and the task token that makes the first three verified facts."""

    session: str | None = None
    triggered_by: str | None = None
    delegation_chain: tuple[str, ...] | None = None
    labels: Mapping[str, str] | None = None
    task_token: str | None = None

    def __repr__(self) -> str:
        token = "'…'" if self.task_token else "None"
        return (
            f"CallContext(session={self.session!r}, triggered_by={self.triggered_by!r}, "
            f"delegation_chain={self.delegation_chain!r}, labels={self.labels!r}, task_token={token})"
        )

    def over(self, other: CallContext | None) -> CallContext:
        """``other``'s fields win over this one's; labels merge key by key."""
        if other is None:
            return self
        labels = {**(self.labels or {}), **(other.labels or {})} if self.labels or other.labels else None
        return CallContext(
            session=other.session if other.session is not None else self.session,
            triggered_by=other.triggered_by if other.triggered_by is not None else self.triggered_by,
            delegation_chain=(
                other.delegation_chain if other.delegation_chain is not None else self.delegation_chain
            ),
            labels=labels,
            task_token=other.task_token if other.task_token is not None else self.task_token,
        )


_CURRENT: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("warden_context", default=None)


def current_context() -> CallContext | None:
    """The context set by the nearest enclosing ``context(...)``, if any."""
    return _CURRENT.get()


def make_context(
    *,
    session: str | None = None,
    triggered_by: str | None = None,
    delegation_chain: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    task_token: str | None = None,
) -> CallContext:
    """A CallContext from keyword arguments, each checked for its type (a clear error, not a 400 later)."""
    for name, value in (("session", session), ("triggered_by", triggered_by)):
        if value is not None and (not isinstance(value, str) or value == ""):
            raise ConfigInvalid("CONFIG_INVALID", f"{name} must be a non-empty string, got {value!r}")
    if delegation_chain is not None:
        if isinstance(delegation_chain, str) or not all(isinstance(a, str) for a in delegation_chain):
            raise ConfigInvalid(
                "CONFIG_INVALID", f"delegation_chain must be a list of agent names, got {delegation_chain!r}"
            )
    if labels is not None:
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise ConfigInvalid("CONFIG_INVALID", f"labels must map strings to strings, got {labels!r}")
    if task_token is not None:
        check_task_token(task_token, "task_token")
    return CallContext(
        session=session,
        triggered_by=triggered_by,
        delegation_chain=tuple(delegation_chain) if delegation_chain is not None else None,
        labels=dict(labels) if labels is not None else None,
        task_token=task_token,
    )


@contextlib.contextmanager
def context(
    *,
    session: str | None = None,
    triggered_by: str | None = None,
    delegation_chain: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    task_token: str | None = None,
) -> Iterator[CallContext]:
    """Every call made inside the ``with`` block (however deep, in this thread or asyncio task) carries
    this context, layered over the one already in force."""
    ctx = make_context(
        session=session,
        triggered_by=triggered_by,
        delegation_chain=delegation_chain,
        labels=labels,
        task_token=task_token,
    )
    merged = (_CURRENT.get() or CallContext()).over(ctx)
    reset = _CURRENT.set(merged)
    try:
        yield merged
    finally:
        _CURRENT.reset(reset)


__all__ = ["CallContext", "context", "current_context", "make_context"]
