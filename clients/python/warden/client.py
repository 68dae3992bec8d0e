"""The Python client's one API: decide a call, wait for its approval, run it, record how it ended. A refusal
raises a ``WardenError`` whose message the agent can show its model. Mirrors the TypeScript SDK's remote
mode (``packages/sdk/src/warden.ts``)."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from typing import Any, Callable, Iterator, Mapping, Sequence

from . import context as _context
from .completions import record_completion
from .context import CallContext, make_context
from .decision import ApprovalState, Authorized, Decision, PendingApproval, StartedTask
from .errors import ConfigInvalid, WardenError
from .guard import GuardDecorator, make_guard
from .http_transport import HttpTransport
from .task_token import TASK_TOKEN_HEADER, read_task_token
from .refusals import blocked, not_approved, timed_out
from .tasks import exchange_body, start_task_body
from .wire import (
    Estimate,
    Usage,
    json_args,
    outcome_body,
    positive_seconds,
    quote_segment,
    seconds_until,
    wire_counts,
)

#: How long a guarded call waits for its approval by default: the request's own expiry, at most 15 minutes.
DEFAULT_APPROVAL_TIMEOUT_S = 15 * 60.0
#: Long-polls are cut into pieces no longer than this (the server caps each wait).
_WAIT_SLICE_S = 25.0

_log = logging.getLogger("warden")


def _log_error(err: WardenError) -> None:
    _log.error("Warden: %s", err.message)


class Warden:
    """A Warden server, as the agent its key belongs to.

    ``Warden(url, key)`` with the server's URL and an agent key (``npm run warden -- keys create --agent
    NAME``). ``timeout`` bounds each request (seconds; approval waits get their own). ``task_token`` makes
    every call carry a task's verified identity. Without a ``session`` the client makes one for its whole
    lifetime: start one per task (``with warden.context(session=...)``) in a service that serves many people.
    """

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
        _transport: HttpTransport | None = None,
    ) -> None:
        self._http = _transport or HttpTransport(url, key, timeout=timeout)
        defaults = make_context(session=session, labels=labels, task_token=task_token)
        # The session made up for want of one gives way to a task token's (a call's session is its task's).
        self._own_session = None if session is not None else f"py-{uuid.uuid4()}"
        self._defaults = defaults.over(CallContext(session=self._own_session))
        positive_seconds(approval_timeout, "approval_timeout")
        self._approval_timeout = float(approval_timeout)
        self._on_error = on_error or _log_error
        self._agent: str | None = None

    def __repr__(self) -> str:
        return f"Warden(url={self._http.base!r}, agent={self._agent!r})"

    def __enter__(self) -> Warden:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        """The server's base URL."""
        return self._http.base

    @property
    def task_token(self) -> str | None:
        """The task token this client's calls carry by default (``task_token=``, ``delegate``)."""
        return self._defaults.task_token

    @property
    def agent(self) -> str:
        """The key's agent as the server names it (asked once; the client never declares it)."""
        if self._agent is None:
            self.visible_tools([])
        return self._agent or ""

    # -- context ----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def context(
        self,
        *,
        session: str | None = None,
        triggered_by: str | None = None,
        delegation_chain: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        task_token: str | None = None,
    ) -> Iterator[CallContext]:
        """Every call made inside the ``with`` block carries this context (see ``warden.context``)."""
        with _context.context(
            session=session,
            triggered_by=triggered_by,
            delegation_chain=delegation_chain,
            labels=labels,
            task_token=task_token,
        ) as ctx:
            yield ctx

    def effective_context(self, over: CallContext | None = None) -> CallContext:
        """The context a call made here and now would carry: the client's, the ``with`` block's, ``over``."""
        ctx = self._defaults.over(_context.current_context()).over(over)
        if ctx.task_token is None or ctx.session is None or ctx.session != self._own_session:
            return ctx
        return CallContext(
            session=read_task_token(ctx.task_token).get("session"),
            triggered_by=ctx.triggered_by,
            delegation_chain=ctx.delegation_chain,
            labels=ctx.labels,
            task_token=ctx.task_token,
        )

    # -- one decision -----------------------------------------------------------------------------------

    def check(
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
        """One decision, no waiting: allow, review (with the approval request it opened) or block. With
        ``approval_id``, redeems that approved request for the same call (same session, tool, arguments).
        Never raises for an outcome: a block is a Decision; failures to decide raise WardenError."""
        over = make_context(
            session=session,
            triggered_by=triggered_by,
            delegation_chain=delegation_chain,
            labels=labels,
            task_token=task_token,
        )
        body, token = self._request(tool, args, target, over)
        if estimate is not None:
            body["estimate"] = wire_counts(estimate, "estimate")
        if approval_id is not None:
            if not isinstance(approval_id, str) or approval_id == "":
                raise ConfigInvalid("CONFIG_INVALID", f"approval_id must be a non-empty string, got {approval_id!r}")
            body["approvalId"] = approval_id
        return Decision.from_json(self._http.request("POST", "/v1/calls", body, task_token=token))

    def complete(
        self,
        call_id: str,
        result: Any = None,
        *,
        error: str | BaseException | None = None,
        usage: Usage | None = None,
        duration_ms: float | None = None,
    ) -> None:
        """Records how an allowed call ended, once: its result, or ``error`` (then it failed), with its
        usage (settling the budgets it reserved) and duration."""
        if not isinstance(call_id, str) or call_id == "":
            raise ConfigInvalid("CONFIG_INVALID", f"call_id must be the decision's call_id, got {call_id!r}")
        body = outcome_body(result, error, usage, duration_ms)
        self._http.request("POST", f"/v1/calls/{quote_segment(call_id)}/complete", body)

    def wait_for_approval(
        self, approval_id: str, timeout: float | None = None, *, task_token: str | None = None
    ) -> ApprovalState:
        """Waits up to ``timeout`` seconds (default: the client's approval timeout, 15 minutes) for a
        request to be decided; returns it as it then stands (still ``pending`` when nobody decided)."""
        if not isinstance(approval_id, str) or approval_id == "":
            raise ConfigInvalid("CONFIG_INVALID", f"approval_id must be a non-empty string, got {approval_id!r}")
        limit = self._approval_timeout if timeout is None else positive_seconds(timeout, "timeout", zero=True)
        token = self.effective_context(make_context(task_token=task_token)).task_token
        deadline = time.monotonic() + limit
        while True:
            left = max(0.0, min(deadline - time.monotonic(), _WAIT_SLICE_S))
            path = f"/v1/approvals/{quote_segment(approval_id)}/wait?timeoutMs={round(left * 1000)}"
            view = self._http.request("GET", path, task_token=token, timeout=left + self._http.timeout)
            state = ApprovalState.from_json(view)
            if state.status != "pending" or time.monotonic() >= deadline:
                return state

    def cancel_approval(self, approval_id: str, reason: str) -> None:
        """Withdraws a pending request this agent opened (nobody waits for it any more)."""
        self._http.request("POST", f"/v1/approvals/{quote_segment(approval_id)}/cancel", {"reason": reason})

    # -- decide, wait, run, record ---------------------------------------------------------------------

    def authorize(
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
        """Decides a call and, for a review, waits for the person's decision and redeems it. Returns only
        when the call may run; otherwise raises CallBlocked (or its engine code's class: BudgetExceeded,
        SessionPaused…), ApprovalDenied or ApprovalTimeout."""
        if approval_timeout is not None:
            positive_seconds(approval_timeout, "approval_timeout")
        over = (context or CallContext()).over(make_context(labels=labels))
        body, token = self._request(tool, args, target, over)
        if estimate is not None:
            body["estimate"] = wire_counts(estimate, "estimate")
        d = Decision.from_json(self._http.request("POST", "/v1/calls", body, task_token=token))
        if d.effect == "allow":
            return Authorized(call_id=d.call_id, session=d.session, decision=d)
        if d.effect == "block" or d.approval is None:
            raise blocked(tool, d)
        approval = d.approval
        if on_approval_pending is not None:
            on_approval_pending(
                PendingApproval(approval.id, d.call_id, d.session, tool, approval.expires_at, d.reasons)
            )
        limit = approval_timeout
        if limit is None:
            until_expiry = seconds_until(approval.expires_at, self._approval_timeout)
            limit = min(self._approval_timeout, max(until_expiry, 0.0) + 1.0)
        state = self.wait_for_approval(approval.id, limit, task_token=token)
        if state.status == "pending":
            self._withdraw(approval.id, f"no decision within {limit:g} s")
            raise timed_out(tool, d, approval.id, limit)
        if not state.lets_call_run:
            raise not_approved(tool, d, state)
        # Redeemed as the same call in the same session: Warden checks it is the approved one.
        body["session"] = d.session
        body["approvalId"] = approval.id
        go = Decision.from_json(self._http.request("POST", "/v1/calls", body, task_token=token))
        if go.effect != "allow":
            raise blocked(tool, go)
        return Authorized(call_id=go.call_id, session=go.session, decision=go, approval_id=approval.id)

    def _record(self, call_id: str, outcome: Mapping[str, Any]) -> None:
        """Records the completion of a call that has run (see ``completions.record_completion``)."""
        record_completion(self._http, call_id, outcome, self._on_error)

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
        """A decorator for a tool function, sync or ``async``: each call is decided first (waiting for a
        person when the policy says review), runs only when allowed, and its result or error is recorded
        with its duration. ``tool`` is the name the policy sees (default: the function's name); the
        arguments are the function's parameters by name unless ``args`` maps them."""
        if tool is not None and (not isinstance(tool, str) or tool == ""):
            raise ConfigInvalid("CONFIG_INVALID", f"tool must be a non-empty string, got {tool!r}")
        if labels is not None:
            make_context(labels=labels)
        if approval_timeout is not None:
            positive_seconds(approval_timeout, "approval_timeout")
        return make_guard(
            self,
            tool=tool,
            args=args,
            target=target,
            labels=labels,
            estimate=estimate,
            usage=usage,
            approval_timeout=approval_timeout,
            on_approval_pending=on_approval_pending,
        )

    # -- tasks ------------------------------------------------------------------------------------------

    def start_task(
        self,
        *,
        agent: str | None = None,
        initiator: Mapping[str, str] | None = None,
        id_token: str | None = None,
        session: str | None = None,
        labels: Mapping[str, str] | None = None,
        ttl: int | None = None,
    ) -> StartedTask:
        """Starts a task: Warden verifies who initiates it (a person's OIDC ``id_token``, or the
        ``initiator={"subject": ..., "name": ...}`` this client's service key vouches for with the
        ``initiator`` permission) and returns a short-lived signed token for the agent to carry."""
        body = start_task_body(
            agent if agent is not None else self._agent_for_task(), initiator, id_token, session, labels, ttl
        )
        return StartedTask.from_json(self._http.request("POST", "/v1/tasks", body))

    def delegate(self, child_agent: str, *, key: str, ttl: int | None = None) -> Warden:
        """Delegates the task in force to a sub-agent by RFC 8693 token exchange (``POST /v1/tasks/token``)
        and returns a client for that agent, with its own ``key``, whose every call carries the child token:
        Warden records the whole chain, verified, in the task's session."""
        parent = self.effective_context().task_token
        if parent is None:
            raise ConfigInvalid(
                "CONFIG_INVALID",
                f"delegate({child_agent!r}) needs a task token in force: create the client with task_token=, "
                "or use `with warden.context(task_token=...)`",
            )
        body = exchange_body(parent, child_agent, ttl)
        # Before the exchange: a child that could not present its token (no key of its own) gets none.
        child_http = self._http.with_key(key)
        answer = self._http.request("POST", "/v1/tasks/token", body)
        labels = self._defaults.labels
        return Warden(
            "",
            "",
            task_token=str(answer["access_token"]),
            labels=labels,
            approval_timeout=self._approval_timeout,
            on_error=self._on_error,
            _transport=child_http,
        )

    # -- the rest ---------------------------------------------------------------------------------------

    def visible_tools(self, tools: Sequence[str], session: str | None = None) -> list[str]:
        """The tools, of those named, this agent could ever be allowed (least-privilege listings)."""
        body: dict[str, Any] = {"tools": list(tools)}
        if session is not None:
            body["session"] = session
        answer = self._http.request("POST", "/v1/tools/visible", body)
        self._agent = str(answer.get("agent", "")) or self._agent
        return [str(t) for t in answer.get("visible", [])]

    def openai_base_url(self) -> str:
        """The base URL for the OpenAI Python client: Warden's metering proxy (``<url>/llm/openai/v1``)."""
        return f"{self._http.base}/llm/openai/v1"

    def anthropic_base_url(self) -> str:
        """The base URL for the Anthropic Python client: Warden's metering proxy (``<url>/llm/anthropic``)."""
        return f"{self._http.base}/llm/anthropic"

    def proxy_headers(self, *, session: str | None = None) -> dict[str, str]:
        """Headers for the model client's ``default_headers``: the task token in force (the proxy takes the
        session, initiator and chain from it), or else the session and the person who started it."""
        ctx = self.effective_context(make_context(session=session))
        if ctx.task_token is not None:
            return {TASK_TOKEN_HEADER: ctx.task_token}
        headers: dict[str, str] = {}
        if ctx.session is not None:
            headers["Warden-Session"] = ctx.session
        if ctx.triggered_by is not None:
            headers["Warden-Triggered-By"] = ctx.triggered_by
        return headers

    def close(self) -> None:
        """Closes the connections to the server (a later call opens a new one)."""
        self._http.close()

    # -- internals --------------------------------------------------------------------------------------

    def _request(
        self, tool: str, args: Mapping[str, Any] | None, target: str | None, over: CallContext
    ) -> tuple[dict[str, Any], str | None]:
        if not isinstance(tool, str) or tool == "":
            raise ConfigInvalid("CONFIG_INVALID", f"tool must be a non-empty string, got {tool!r}")
        if target is not None and not isinstance(target, str):
            raise ConfigInvalid("CONFIG_INVALID", f"target must be a string, got {target!r}")
        ctx = self.effective_context(over)
        body: dict[str, Any] = {"tool": tool, "args": json_args(args if args is not None else {}, tool)}
        if ctx.session is not None:
            body["session"] = ctx.session
        if target is not None:
            body["target"] = target
        if ctx.labels:
            body["labels"] = dict(ctx.labels)
        if ctx.triggered_by is not None:
            body["triggeredBy"] = ctx.triggered_by
        if ctx.delegation_chain:
            body["delegationChain"] = list(ctx.delegation_chain)
        return body, ctx.task_token

    def _agent_for_task(self) -> str:
        try:
            agent = self.agent
        except WardenError:
            agent = ""
        if agent == "":
            raise ConfigInvalid(
                "CONFIG_INVALID",
                "start_task needs the agent the task is for: start_task(agent=..., ...) (a backend starts "
                "tasks for agents by name)",
            )
        return agent

    def _withdraw(self, approval_id: str, reason: str) -> None:
        try:
            self.cancel_approval(approval_id, reason)
        except WardenError:
            pass  # decided (or expired) in the meantime: nothing left to withdraw
