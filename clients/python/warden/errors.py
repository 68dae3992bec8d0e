"""Warden's failures as exceptions: one class per refusal an agent must tell apart, each with Warden's stable
code, a message written for the agent's model to read, and details for programs."""

from __future__ import annotations

from typing import Any, Mapping


class WardenError(Exception):
    """A failure with Warden's stable ``code`` (SCREAMING_SNAKE), its ``message`` and its ``details``."""

    code: str
    message: str
    details: dict[str, Any]

    def __init__(self, code: str, message: str, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class CallBlocked(WardenError):
    """Warden blocked the call (a block rule, the default deny, or the engine itself); nothing ran."""


class BudgetExceeded(CallBlocked):
    """A budget would go over its limit (``details["budget"]`` names it); nothing ran."""


class SessionPaused(CallBlocked):
    """The session is paused until a person resumes it; nothing ran."""


class RunawayDetected(CallBlocked):
    """A loop breaker tripped and paused the session; nothing ran."""


class ApprovalDenied(WardenError):
    """The approval request was denied, expired or cancelled; nothing ran."""


class ApprovalTimeout(WardenError):
    """No decision came within the time the caller allowed; the request was withdrawn and nothing ran."""


class WardenUnreachable(WardenError):
    """The Warden server could not be reached; nothing was decided, so nothing ran."""


class ConfigInvalid(WardenError):
    """The client was given something it cannot use (a URL, a key, a task token, an argument)."""


class TaskTokenError(WardenError):
    """A task token was refused (TASK_TOKEN_INVALID) or disagrees with the call (TASK_TOKEN_MISMATCH)."""


_CLASSES: dict[str, type[WardenError]] = {
    "CALL_BLOCKED": CallBlocked,
    "BUDGET_EXCEEDED": BudgetExceeded,
    "SESSION_PAUSED": SessionPaused,
    "RUNAWAY_DETECTED": RunawayDetected,
    "APPROVAL_DENIED": ApprovalDenied,
    "APPROVAL_TIMEOUT": ApprovalTimeout,
    "WARDEN_UNREACHABLE": WardenUnreachable,
    "CONFIG_INVALID": ConfigInvalid,
    "TASK_TOKEN_INVALID": TaskTokenError,
    "TASK_TOKEN_MISMATCH": TaskTokenError,
}


def error_for(code: str, message: str, details: Mapping[str, Any] | None = None) -> WardenError:
    """The exception for a code: its own class when it has one, else a plain ``WardenError``."""
    return _CLASSES.get(code, WardenError)(code, message, details)


def blocked_error(code: str, message: str, details: Mapping[str, Any]) -> CallBlocked:
    """The exception of a blocked decision: the engine's own code's class (BUDGET_EXCEEDED, SESSION_PAUSED…)
    when it has one, else ``CallBlocked`` carrying that code; either way a ``CallBlocked``."""
    cls = _CLASSES.get(code)
    if cls is None or not issubclass(cls, CallBlocked):
        return CallBlocked(code, message, details)
    return cls(code, message, details)
