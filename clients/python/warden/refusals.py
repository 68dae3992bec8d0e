"""The errors a refused call raises, worded for the agent's model to read: what was refused and why,
with Warden's details (call, session, rule, reasons, approval, budget) for programs."""

from __future__ import annotations

from typing import Any

from .decision import ApprovalState, Decision
from .errors import ApprovalDenied, ApprovalTimeout, WardenError, blocked_error


def blocked(tool: str, d: Decision) -> WardenError:
    """A blocked decision: the engine's own code when it blocked regardless of the policy, else CALL_BLOCKED."""
    why = "; ".join(d.reasons) if d.reasons else "no rule allows it"
    details: dict[str, Any] = {
        "callId": d.call_id,
        "session": d.session,
        "tool": tool,
        "ruleId": d.rule_id,
        "reasons": list(d.reasons),
    }
    if d.approval is not None:
        details["approvalId"] = d.approval.id
    if d.budget is not None:
        details["budget"] = dict(d.budget)
    return blocked_error(d.code or "CALL_BLOCKED", f"Warden blocked {tool}: {why}", details)


def not_approved(tool: str, d: Decision, state: ApprovalState) -> ApprovalDenied:
    """A review that ended without letting the call run: denied, expired or cancelled."""
    by = f" by {state.decided_by}" if state.decided_by else ""
    why = f": {state.reason}" if state.reason else ""
    return ApprovalDenied(
        "APPROVAL_DENIED",
        f"Warden did not approve {tool}: it was {state.status}{by}{why}",
        {
            "callId": d.call_id,
            "session": d.session,
            "tool": tool,
            "approvalId": state.id,
            "status": state.status,
            "decidedBy": state.decided_by,
        },
    )


def timed_out(tool: str, d: Decision, approval_id: str, limit: float) -> ApprovalTimeout:
    """A review nobody decided within the caller's limit (the request has been withdrawn)."""
    return ApprovalTimeout(
        "APPROVAL_TIMEOUT",
        f"Warden held {tool} for review and no decision came within {limit:g} s; the request was "
        "withdrawn and nothing ran",
        {"callId": d.call_id, "session": d.session, "approvalId": approval_id, "waitedS": limit},
    )
