"""Warden's Python client: put Warden in front of any function an agent calls.

    from warden import Warden

    warden = Warden("http://127.0.0.1:7400", os.environ["WARDEN_KEY"])

    @warden.guard(tool="billing.refund")
    def refund(amount: int) -> str: ...

    with warden.context(session="ticket-42"):
        refund(20)  # decided first; runs only when allowed; its result is recorded

Standard library only. See README.md (and docs/python.md in the repository).
"""

from .async_client import AsyncWarden
from .client import DEFAULT_APPROVAL_TIMEOUT_S, Warden
from .context import CallContext, context, current_context
from .decision import (
    ApprovalRef,
    ApprovalState,
    Authorized,
    Decision,
    PendingApproval,
    StartedTask,
)
from .errors import (
    ApprovalDenied,
    ApprovalTimeout,
    BudgetExceeded,
    CallBlocked,
    ConfigInvalid,
    RunawayDetected,
    SessionPaused,
    TaskTokenError,
    WardenError,
    WardenUnreachable,
)
from .guard import GuardDecorator
from .task_token import TASK_TOKEN_HEADER, read_task_token
from .wire import Estimate, Usage

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_APPROVAL_TIMEOUT_S",
    "TASK_TOKEN_HEADER",
    "ApprovalDenied",
    "ApprovalRef",
    "ApprovalState",
    "ApprovalTimeout",
    "AsyncWarden",
    "Authorized",
    "BudgetExceeded",
    "CallBlocked",
    "CallContext",
    "ConfigInvalid",
    "Decision",
    "Estimate",
    "GuardDecorator",
    "PendingApproval",
    "RunawayDetected",
    "SessionPaused",
    "StartedTask",
    "TaskTokenError",
    "Usage",
    "Warden",
    "WardenError",
    "WardenUnreachable",
    "context",
    "current_context",
    "read_task_token",
]
