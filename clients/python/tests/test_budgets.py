"""Budgets: a session's calls budget runs out, the next call is refused and the session is paused."""

from __future__ import annotations

import unittest

from warden import BudgetExceeded, CallBlocked, SessionPaused, Warden

from .support import server, session


class BudgetTests(unittest.TestCase):
    def test_calls_budget_exhausting_raises_budget_exceeded_then_session_paused(self) -> None:
        warden = Warden(server().url, server().agent_key)
        self.addCleanup(warden.close)
        ran: list[str] = []

        @warden.guard(tool="search")
        def search(query: str) -> list[str]:
            ran.append(query)
            return [query]

        with warden.context(session=session("budget")):
            for q in ("a", "b", "c"):
                self.assertEqual(search(q), [q])
            with self.assertRaises(BudgetExceeded) as over:
                search("d")
            with self.assertRaises(SessionPaused) as paused:
                search("e")
        self.assertEqual(ran, ["a", "b", "c"])
        err = over.exception
        self.assertIsInstance(err, CallBlocked)
        self.assertEqual(err.code, "BUDGET_EXCEEDED")
        self.assertEqual(err.details["budget"]["budgetId"], "search-calls")
        self.assertEqual((err.details["budget"]["limit"], err.details["budget"]["used"]), (3, 3))
        self.assertIn("would go over its limit of 3 calls", err.message)
        self.assertEqual(paused.exception.code, "SESSION_PAUSED")
        self.assertIn("a human must resume it", paused.exception.message)


if __name__ == "__main__":
    unittest.main()
