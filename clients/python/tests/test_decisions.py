"""Allow and block through `check`, `complete` and `guard` against a real server."""

from __future__ import annotations

import unittest

from warden import CallBlocked, Decision, Warden, WardenError

from .support import events, server, session


class DecisionTests(unittest.TestCase):
    def setUp(self) -> None:
        self.warden = Warden(server().url, server().agent_key)
        self.addCleanup(self.warden.close)

    def test_allowed_check_returns_decision_and_complete_records_result(self) -> None:
        s = session("allow")
        d = self.warden.check("crm.lookup", {"id": 7}, session=s, labels={"team": "support"})
        self.assertIsInstance(d, Decision)
        self.assertEqual((d.effect, d.rule_id, d.session), ("allow", "lookups", s))
        self.assertTrue(d.allowed)
        self.warden.complete(d.call_id, {"name": "Ada"}, usage={"tool_calls": 1}, duration_ms=12)
        done = events(s, "call.completed")
        self.assertEqual(len(done), 1)
        self.assertEqual(done[0]["callId"], d.call_id)
        self.assertEqual(done[0]["outcome"]["status"], "ok")
        self.assertEqual(done[0]["outcome"]["result"], {"name": "Ada"})
        self.assertEqual(done[0]["outcome"]["usage"], {"toolCalls": 1})
        self.assertEqual(events(s, "call.decided")[0]["labels"], {"team": "support"})
        with self.assertRaises(WardenError) as again:
            self.warden.complete(d.call_id, {"name": "Eve"})
        self.assertEqual(again.exception.code, "CALL_ALREADY_COMPLETED")

    def test_blocked_check_is_a_decision_not_an_error(self) -> None:
        d = self.warden.check("billing.refund", {"amount": 900}, session=session("block"))
        self.assertEqual((d.effect, d.rule_id), ("block", "huge-refunds"))
        self.assertIn("Refunds over $500 go to finance.", d.reasons)
        unknown = self.warden.check("db.drop", {})
        self.assertEqual((unknown.effect, unknown.rule_id), ("block", None))

    def test_guard_runs_allowed_call_and_records_result(self) -> None:
        ran: list[int] = []

        @self.warden.guard(tool="billing.refund")
        def refund(amount: int, currency: str = "USD") -> str:
            ran.append(amount)
            return f"refunded {amount} {currency}"

        s = session("guard")
        with self.warden.context(session=s):
            self.assertEqual(refund(20), "refunded 20 USD")
        self.assertEqual(ran, [20])
        decided = events(s, "call.decided")
        self.assertEqual(decided[0]["args"], {"amount": 20, "currency": "USD"})
        done = events(s, "call.completed")[0]
        self.assertEqual(done["outcome"]["status"], "ok")
        self.assertEqual(done["outcome"]["result"], "refunded 20 USD")
        self.assertGreaterEqual(done["outcome"]["durationMs"], 0)

    def test_guard_blocked_call_raises_call_blocked_and_never_runs(self) -> None:
        ran: list[int] = []

        @self.warden.guard(tool="billing.refund")
        def refund(amount: int) -> str:
            ran.append(amount)
            return "refunded"

        with self.assertRaises(CallBlocked) as caught:
            refund(amount=900)
        err = caught.exception
        self.assertEqual(err.code, "CALL_BLOCKED")
        self.assertEqual(err.message, "Warden blocked billing.refund: Refunds over $500 go to finance.")
        self.assertEqual(err.details["ruleId"], "huge-refunds")
        self.assertEqual(ran, [])

    def test_guard_records_the_tools_own_error_and_reraises(self) -> None:
        @self.warden.guard(tool="crm.lookup")
        def lookup(id: int) -> dict[str, str]:
            raise LookupError(f"no customer {id}")

        s = session("tool-error")
        with self.warden.context(session=s), self.assertRaises(LookupError):
            lookup(404)
        done = events(s, "call.completed")[0]
        self.assertEqual(done["outcome"]["status"], "error")
        self.assertEqual(done["outcome"]["error"], "LookupError: no customer 404")

    def test_guard_reports_usage_and_survives_a_bad_one(self) -> None:
        problems: list[WardenError] = []
        warden = Warden(server().url, server().agent_key, on_error=problems.append)
        self.addCleanup(warden.close)

        @warden.guard(tool="crm.lookup", usage=lambda r: {"tool_calls": len(r)})
        def lookup(id: int) -> list[int]:
            return [id, id]

        @warden.guard(tool="crm.lookup", usage=lambda r: {"tokens": 5})  # type: ignore[typeddict-unknown-key]
        def badly_reported(id: int) -> int:
            return id

        s = session("usage")
        with warden.context(session=s):
            self.assertEqual(lookup(3), [3, 3])
            self.assertEqual(badly_reported(4), 4)
        done = events(s, "call.completed")
        self.assertEqual(done[0]["outcome"]["usage"], {"toolCalls": 2})
        # The tool ran: its result is recorded without the usage, and the problem goes to on_error.
        self.assertEqual(done[1]["outcome"]["result"], 4)
        self.assertNotIn("usage", done[1]["outcome"])
        self.assertEqual([p.code for p in problems], ["CONFIG_INVALID"])
        self.assertIn("usage has no field 'tokens'", problems[0].message)

    def test_context_nests_and_explicit_arguments_win(self) -> None:
        outer, inner = session("outer"), session("inner")
        with self.warden.context(session=outer, labels={"a": "1"}):
            with self.warden.context(labels={"b": "2"}):
                d = self.warden.check("crm.lookup", {})
            explicit = self.warden.check("crm.lookup", {}, session=inner)
        self.assertEqual(d.session, outer)
        self.assertEqual(events(outer, "call.decided")[0]["labels"], {"a": "1", "b": "2"})
        self.assertEqual(explicit.session, inner)
        # Outside any context: the client's own session, the same for every call.
        first, second = self.warden.check("crm.lookup", {}), self.warden.check("crm.lookup", {})
        self.assertTrue(first.session.startswith("py-"))
        self.assertEqual(first.session, second.session)


if __name__ == "__main__":
    unittest.main()
