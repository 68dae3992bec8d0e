"""The ``guard`` decorator: a tool function, sync or ``async``, decided by Warden before it runs, and its
result or error recorded with its duration after. Async functions decide and record in a worker thread
(``asyncio.to_thread``: the standard library has no async HTTP client), so the event loop keeps running
while a call waits for a person."""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, TypeVar

from .decision import Authorized, PendingApproval
from .errors import ConfigInvalid
from .wire import Estimate, Usage, outcome_body

if TYPE_CHECKING:
    from .client import Warden

F = TypeVar("F", bound=Callable[..., Any])


class GuardDecorator(Protocol):
    """What ``warden.guard(...)`` returns: a decorator that keeps the function's signature."""

    def __call__(self, fn: F, /) -> F: ...


def make_guard(
    warden: Warden,
    *,
    tool: str | None,
    args: Callable[..., Mapping[str, Any]] | None,
    target: str | Callable[..., str] | None,
    labels: Mapping[str, str] | None,
    estimate: Estimate | Callable[..., Estimate] | None,
    usage: Callable[[Any], Usage | None] | None,
    approval_timeout: float | None,
    on_approval_pending: Callable[[PendingApproval], None] | None,
) -> GuardDecorator:
    """Builds the decorator of ``Warden.guard`` (see there)."""

    def decorate(fn: F) -> F:
        if not callable(fn):
            raise ConfigInvalid("CONFIG_INVALID", f"guard decorates a function, got {fn!r}")
        name = tool or getattr(fn, "__name__", "")
        if not name:
            raise ConfigInvalid("CONFIG_INVALID", f"guard(tool=...) needs a tool name for {fn!r}")
        signature = _signature(fn)

        def authorize(a: tuple[Any, ...], kw: dict[str, Any]) -> Authorized:
            call_args = args(*a, **kw) if args is not None else _bound_args(signature, a, kw, name)
            return warden.authorize(
                name,
                call_args,
                target=target(*a, **kw) if callable(target) else target,
                labels=labels,
                estimate=estimate(*a, **kw) if callable(estimate) else estimate,
                approval_timeout=approval_timeout,
                on_approval_pending=on_approval_pending,
            )

        def outcome(value: Any, err: BaseException | None, started: float) -> dict[str, Any]:
            ms = (time.perf_counter() - started) * 1000
            if err is not None:
                return outcome_body(None, err, None, ms)
            try:
                return outcome_body(value, None, _reported(usage, value), ms)
            except ConfigInvalid as bad:
                # The tool has run: its result is recorded without the usage the callback got wrong.
                warden._on_error(bad)
                return outcome_body(value, None, None, ms)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def guarded_async(*a: Any, **kw: Any) -> Any:
                ok = await asyncio.to_thread(authorize, a, kw)
                started = time.perf_counter()
                try:
                    value = await fn(*a, **kw)
                except BaseException as err:
                    await asyncio.to_thread(warden._record, ok.call_id, outcome(None, err, started))
                    raise
                await asyncio.to_thread(warden._record, ok.call_id, outcome(value, None, started))
                return value

            return guarded_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def guarded(*a: Any, **kw: Any) -> Any:
            ok = authorize(a, kw)
            started = time.perf_counter()
            try:
                value = fn(*a, **kw)
            except BaseException as err:
                warden._record(ok.call_id, outcome(None, err, started))
                raise
            warden._record(ok.call_id, outcome(value, None, started))
            return value

        return guarded  # type: ignore[return-value]

    return decorate


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _bound_args(
    signature: inspect.Signature | None, a: tuple[Any, ...], kw: dict[str, Any], tool: str
) -> dict[str, Any]:
    """The call's arguments by parameter name (defaults filled in, ``**kwargs`` merged in), so the policy
    sees ``{"amount": 20}`` whether the function was called ``refund(20)`` or ``refund(amount=20)``."""
    if signature is None:
        return {**({"args": list(a)} if a else {}), **kw}
    try:
        bound = signature.bind(*a, **kw)
    except TypeError as err:
        raise ConfigInvalid("CONFIG_INVALID", f"{tool} was called with arguments it does not take: {err}") from None
    bound.apply_defaults()
    out: dict[str, Any] = {}
    for i, (pname, value) in enumerate(bound.arguments.items()):
        param = signature.parameters[pname]
        if i == 0 and pname in ("self", "cls"):
            continue  # a method's receiver is not an argument of the tool call
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            out.update(value)
        elif param.kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                out[pname] = list(value)
        else:
            out[pname] = value
    return out


def _reported(usage: Callable[[Any], Usage | None] | None, value: Any) -> Usage | None:
    """A usage callback that raises must not cost the call its record: it counts as unset."""
    if usage is None:
        return None
    try:
        return usage(value)
    except Exception:
        return None
