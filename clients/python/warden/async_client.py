"""``AsyncWarden``: the client's API as coroutines for asyncio agents. Each request runs the blocking
client in a worker thread (``asyncio.to_thread``): the standard library has no async HTTP client, a
thread hop costs microseconds against a network round trip, and ``to_thread`` carries the
``contextvars`` context, so ``with warden.context(...)`` holds across ``await``. A call waiting for a
person holds one worker thread of the loop's default executor while it waits."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Callable, Mapping, Sequence

from .client import DEFAULT_APPROVAL_TIMEOUT_S, Warden
from .context import CallContext
from .decision import ApprovalState, Authorized, Decision, PendingApproval, StartedTask
from .errors import WardenError
from .guard import GuardDecorator
from .wire import Estimate, Usage


class AsyncWarden:
    """The asyncio face of ``Warden`` (same arguments, same errors); ``sync`` is the blocking client."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout: float = 30.0,
        task_token: str | None = None,
        session: str | None = None,
        labels: Mapping[str, str] | None = None,
        approval_timeout: float = DEFAULT_APPROVAL_TIMEOUT_S,
        on_error: Callable[[WardenError], None] | None = None,
        _sync: Warden | None = None,
    ) -> None:
        self.sync: Warden = _sync or Warden(
            url,
            key,
            timeout=timeout,
            task_token=task_token,
            session=session,
            labels=labels,
            approval_timeout=approval_timeout,
            on_error=on_error,
        )

    def __repr__(self) -> str:
        return f"Async{self.sync!r}"

    async def __aenter__(self) -> AsyncWarden:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self.sync.url

    @property
    def task_token(self) -> str | None:
        return self.sync.task_token

    def context(
        self,
        *,
        session: str | None = None,
        triggered_by: str | None = None,
        delegation_chain: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        task_token: str | None = None,
    ) -> contextlib.AbstractContextManager[CallContext]:
        """``with warden.context(session=...)``: as ``Warden.context`` (it holds across ``await``)."""
        return self.sync.context(
            session=session,
            triggered_by=triggered_by,
            delegation_chain=delegation_chain,
            labels=labels,
            task_token=task_token,
        )

    async def check(
        self,
        tool: str,
        args: Mapping[str, Any] | None = None,
        *,
        session: str | None = None,
        target: str | None = None,
        labels: Mapping[str, str] | None = None,
        estimate: Estimate | None = None,
        approval_id: str | None = None,
        triggered_by: str | None = None,
        delegation_chain: Sequence[str] | None = None,
        task_token: str | None = None,
    ) -> Decision:
        """As ``Warden.check``."""
        return await asyncio.to_thread(
            self.sync.check,
            tool,
            args,
            session=session,
            target=target,
            labels=labels,
            estimate=estimate,
            approval_id=approval_id,
            triggered_by=triggered_by,
            delegation_chain=delegation_chain,
            task_token=task_token,
        )

    async def complete(
        self,
        call_id: str,
        result: Any = None,
        *,
        error: str | BaseException | None = None,
        usage: Usage | None = None,
        duration_ms: float | None = None,
    ) -> None:
        """As ``Warden.complete``."""
        await asyncio.to_thread(
            self.sync.complete, call_id, result, error=error, usage=usage, duration_ms=duration_ms
        )

    async def wait_for_approval(
        self, approval_id: str, timeout: float | None = None, *, task_token: str | None = None
    ) -> ApprovalState:
        """As ``Warden.wait_for_approval`` (the long poll runs in a worker thread)."""
        return await asyncio.to_thread(self.sync.wait_for_approval, approval_id, timeout, task_token=task_token)

    async def cancel_approval(self, approval_id: str, reason: str) -> None:
        await asyncio.to_thread(self.sync.cancel_approval, approval_id, reason)

    async def authorize(
        self,
        tool: str,
        args: Mapping[str, Any] | None = None,
        *,
        target: str | None = None,
        labels: Mapping[str, str] | None = None,
        estimate: Estimate | None = None,
        approval_timeout: float | None = None,
        on_approval_pending: Callable[[PendingApproval], None] | None = None,
        context: CallContext | None = None,
    ) -> Authorized:
        """As ``Warden.authorize``."""
        return await asyncio.to_thread(
            self.sync.authorize,
            tool,
            args,
            target=target,
            labels=labels,
            estimate=estimate,
            approval_timeout=approval_timeout,
            on_approval_pending=on_approval_pending,
            context=context,
        )

    def guard(
        self,
        tool: str | None = None,
        *,
        args: Callable[..., Mapping[str, Any]] | None = None,
        target: str | Callable[..., str] | None = None,
        labels: Mapping[str, str] | None = None,
        estimate: Estimate | Callable[..., Estimate] | None = None,
        usage: Callable[[Any], Usage | None] | None = None,
        approval_timeout: float | None = None,
        on_approval_pending: Callable[[PendingApproval], None] | None = None,
    ) -> GuardDecorator:
        """As ``Warden.guard``: decorates ``async def`` tools (and plain ones, which then block the loop)."""
        return self.sync.guard(
            tool,
            args=args,
            target=target,
            labels=labels,
            estimate=estimate,
            usage=usage,
            approval_timeout=approval_timeout,
            on_approval_pending=on_approval_pending,
        )

    async def start_task(
        self,
        *,
        agent: str | None = None,
        initiator: Mapping[str, str] | None = None,
        id_token: str | None = None,
        session: str | None = None,
        labels: Mapping[str, str] | None = None,
        ttl: int | None = None,
    ) -> StartedTask:
        """As ``Warden.start_task``."""
        return await asyncio.to_thread(
            self.sync.start_task,
            agent=agent,
            initiator=initiator,
            id_token=id_token,
            session=session,
            labels=labels,
            ttl=ttl,
        )

    async def delegate(self, child_agent: str, *, key: str, ttl: int | None = None) -> AsyncWarden:
        """As ``Warden.delegate``; the child is an ``AsyncWarden``."""
        child = await asyncio.to_thread(self.sync.delegate, child_agent, key=key, ttl=ttl)
        return AsyncWarden("", "", _sync=child)

    async def visible_tools(self, tools: Sequence[str], session: str | None = None) -> list[str]:
        return await asyncio.to_thread(self.sync.visible_tools, tools, session)

    def openai_base_url(self) -> str:
        return self.sync.openai_base_url()

    def anthropic_base_url(self) -> str:
        return self.sync.anthropic_base_url()

    def proxy_headers(self, *, session: str | None = None) -> dict[str, str]:
        return self.sync.proxy_headers(session=session)

    def close(self) -> None:
        self.sync.close()


__all__ = ["AsyncWarden"]
