"""What Warden answers, as values: a call's decision, an approval request's state, a started task and a
delegated token. Each keeps the server's JSON in ``raw`` for fields added after this client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

Effect = Literal["allow", "review", "block"]
ApprovalStatus = Literal["pending", "approved", "denied", "expired", "cancelled", "used"]


@dataclass(frozen=True)
class ApprovalRef:
    """The approval request a review opened (or a redeemed call used), as it stood when decided."""

    id: str
    status: str
    expires_at: str
    decided_by: str | None = None


@dataclass(frozen=True)
class Decision:
    """Warden's decision on one call (the answer of ``POST /v1/calls``)."""

    call_id: str
    session: str
    effect: Effect
    policy_effect: Effect
    rule_id: str | None
    reasons: tuple[str, ...]
    policy_version: str
    matched_rule_ids: tuple[str, ...] = ()
    code: str | None = None
    approval: ApprovalRef | None = None
    budget: Mapping[str, Any] | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def allowed(self) -> bool:
        """Whether the call may run now."""
        return self.effect == "allow"

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Decision:
        """Reads the server's JSON answer."""
        a = body.get("approval")
        approval = (
            ApprovalRef(
                id=str(a["id"]),
                status=str(a["status"]),
                expires_at=str(a["expiresAt"]),
                decided_by=a.get("decidedBy"),
            )
            if isinstance(a, Mapping)
            else None
        )
        return cls(
            call_id=str(body["callId"]),
            session=str(body["session"]),
            effect=body["effect"],
            policy_effect=body.get("policyEffect", body["effect"]),
            rule_id=body.get("ruleId"),
            reasons=tuple(body.get("reasons") or ()),
            policy_version=str(body.get("policyVersion", "")),
            matched_rule_ids=tuple(body.get("matchedRuleIds") or ()),
            code=body.get("code"),
            approval=approval,
            budget=body.get("budget"),
            raw=dict(body),
        )


@dataclass(frozen=True)
class ApprovalState:
    """An approval request as the waiting agent sees it."""

    id: str
    status: str
    expires_at: str
    decided_by: str | None = None
    reason: str | None = None
    on_timeout: Literal["block", "allow"] | None = None

    @property
    def lets_call_run(self) -> bool:
        """Approved, or expired under a rule whose ``onTimeout`` is ``allow``."""
        return self.status == "approved" or (self.status == "expired" and self.on_timeout == "allow")

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> ApprovalState:
        """Reads an approval view (``GET /v1/approvals/:id/wait``)."""
        return cls(
            id=str(body["id"]),
            status=str(body["status"]),
            expires_at=str(body.get("expiresAt", "")),
            decided_by=body.get("decidedBy"),
            reason=body.get("outcomeReason"),
            on_timeout=body.get("onTimeout"),
        )


@dataclass(frozen=True)
class Authorized:
    """A call Warden allowed (at once, or after a person approved it): run it, then complete ``call_id``."""

    call_id: str
    session: str
    decision: Decision
    approval_id: str | None = None


@dataclass(frozen=True)
class StartedTask:
    """A task Warden started (``POST /v1/tasks``): hand ``token`` to the agent."""

    token: str
    token_id: str
    task_id: str
    session: str
    agent: str
    expires_at: str
    initiator: Mapping[str, Any]
    delegation_chain: tuple[str, ...]

    def __repr__(self) -> str:
        # The token is a bearer credential for the task: never printed whole.
        return (
            f"StartedTask(task_id={self.task_id!r}, session={self.session!r}, agent={self.agent!r}, "
            f"expires_at={self.expires_at!r}, token='…')"
        )

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> StartedTask:
        return cls(
            token=str(body["token"]),
            token_id=str(body["tokenId"]),
            task_id=str(body["taskId"]),
            session=str(body["session"]),
            agent=str(body["agent"]),
            expires_at=str(body["expiresAt"]),
            initiator=dict(body.get("initiator") or {}),
            delegation_chain=tuple(body.get("delegationChain") or ()),
        )


@dataclass(frozen=True)
class PendingApproval:
    """A guarded call held for review, as ``on_approval_pending`` is told (tell the user it waits)."""

    approval_id: str
    call_id: str
    session: str
    tool: str
    expires_at: str
    reasons: tuple[str, ...]
