"""Review: a guarded call waits while a second person (the approver) decides, in another thread."""

from __future__ import annotations

import unittest

from warden import ApprovalDenied, ApprovalTimeout, PendingApproval, Warden

from .support import approval, events, server, session, vote_soon


class ReviewTests(unittest.TestCase):
    def setUp(self) -> None:
        self.warden = Warden(server().url, server().agent_key)
        self.addCleanup(self.warden.close)

    def test_review_approved_by_second_person_runs(self) -> None:
        ran: list[int] = []
        pending: list[PendingApproval] = []

        def waiting(p: PendingApproval) -> None:
            pending.append(p)
            vote_soon(p.approval_id, "approve")

        @self.warden.guard(tool="billing.refund", on_approval_pending=waiting)
        def refund(amount: int) -> str:
            ran.append(amount)
            return f"refunded {amount}"

        s = session("approved")
        with self.warden.context(session=s):
            self.assertEqual(refund(120), "refunded 120")
        self.assertEqual(ran, [120])
        self.assertEqual(len(pending), 1)
        self.assertEqual((pending[0].tool, pending[0].session), ("billing.refund", s))
        self.assertIn("Refunds over $50 need a support lead.", pending[0].reasons)
        decided = approval(pending[0].approval_id)
        self.assertEqual(decided["status"], "used")
        self.assertEqual([v["principal"] for v in decided["votes"]], ["lee"])
        self.assertEqual(events(s, "call.completed")[0]["outcome"]["result"], "refunded 120")

    def test_review_denied_raises_approval_denied_and_never_runs(self) -> None:
        ran: list[int] = []

        @self.warden.guard(tool="billing.refund", on_approval_pending=lambda p: vote_soon(p.approval_id, "deny"))
        def refund(amount: int) -> str:
            ran.append(amount)
            return "refunded"

        with self.warden.context(session=session("denied")), self.assertRaises(ApprovalDenied) as caught:
            refund(amount=200)
        self.assertEqual(caught.exception.code, "APPROVAL_DENIED")
        self.assertEqual(caught.exception.details["decidedBy"], "lee")
        self.assertIn("it was denied by lee", caught.exception.message)
        self.assertEqual(ran, [])

    def test_review_timeout_withdraws_request(self) -> None:
        ran: list[int] = []
        seen: list[str] = []

        @self.warden.guard(
            tool="billing.refund", approval_timeout=0.5, on_approval_pending=lambda p: seen.append(p.approval_id)
        )
        def refund(amount: int) -> str:
            ran.append(amount)
            return "refunded"

        with self.assertRaises(ApprovalTimeout) as caught:
            refund(300)
        self.assertEqual(caught.exception.code, "APPROVAL_TIMEOUT")
        self.assertEqual(ran, [])
        self.assertEqual(approval(seen[0])["status"], "cancelled")

    def test_wait_for_approval_long_polls_until_decided_then_redeems(self) -> None:
        s = session("wait")
        d = self.warden.check("billing.refund", {"amount": 75}, session=s)
        self.assertEqual(d.effect, "review")
        assert d.approval is not None
        still = self.warden.wait_for_approval(d.approval.id, 0.2)
        self.assertEqual(still.status, "pending")
        vote_soon(d.approval.id, "approve", delay=0.3)
        state = self.warden.wait_for_approval(d.approval.id, 20)
        self.assertEqual((state.status, state.decided_by), ("approved", "lee"))
        self.assertTrue(state.lets_call_run)
        go = self.warden.check("billing.refund", {"amount": 75}, session=s, approval_id=d.approval.id)
        self.assertEqual(go.effect, "allow")
        # A changed call does not redeem it.
        again = self.warden.check("billing.refund", {"amount": 76}, session=s, approval_id=d.approval.id)
        self.assertEqual(again.effect, "block")


if __name__ == "__main__":
    unittest.main()
