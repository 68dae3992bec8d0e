"""What needs no server: an unreachable one, bad input refused with clear errors, the key never shown."""

from __future__ import annotations

import asyncio
import unittest

from warden import AsyncWarden, ConfigInvalid, Warden, WardenError, WardenUnreachable
from warden.completions import record_completion
from warden.http_transport import HttpTransport

from .support import closed_port

SECRET = "wdn_do-not-print-this-secret-0123456789"


class UnreachableTests(unittest.TestCase):
    def test_unreachable_server_raises_warden_unreachable_and_tool_never_runs(self) -> None:
        url = f"http://127.0.0.1:{closed_port()}"
        warden = Warden(url, SECRET, timeout=5)
        ran: list[int] = []

        @warden.guard(tool="billing.refund")
        def refund(amount: int) -> str:
            ran.append(amount)
            return "refunded"

        with self.assertRaises(WardenUnreachable) as caught:
            refund(10)
        err = caught.exception
        self.assertEqual(err.code, "WARDEN_UNREACHABLE")
        self.assertIn(url, err.message)
        self.assertIn("ECONNREFUSED", err.message)
        self.assertEqual(ran, [])

        @warden.guard(tool="billing.refund")
        async def refund_async(amount: int) -> str:
            ran.append(amount)
            return "refunded"

        with self.assertRaises(WardenUnreachable):
            asyncio.run(refund_async(10))
        with self.assertRaises(WardenUnreachable):
            asyncio.run(AsyncWarden(url, SECRET).check("crm.lookup", {}))
        self.assertEqual(ran, [])

    def test_a_completion_that_cannot_be_recorded_goes_to_on_error(self) -> None:
        problems: list[WardenError] = []
        http = HttpTransport(f"http://127.0.0.1:{closed_port()}", SECRET, timeout=5)
        record_completion(http, "call-1", {"status": "ok", "result": 1}, problems.append)
        self.assertEqual(len(problems), 1)
        self.assertEqual(problems[0].code, "INTERNAL")
        self.assertEqual(problems[0].details, {"callId": "call-1", "cause": "WARDEN_UNREACHABLE"})
        self.assertIn("the result of call call-1 could not be recorded", problems[0].message)

    def test_unknown_host_is_unreachable_too(self) -> None:
        with self.assertRaises(WardenUnreachable):
            Warden("http://warden.invalid:7400", SECRET, timeout=5).check("crm.lookup", {})


class BadInputTests(unittest.TestCase):
    def assert_refused(self, fn: object, *words: str) -> None:
        with self.assertRaises(ConfigInvalid) as caught:
            fn()  # type: ignore[operator]
        self.assertEqual(caught.exception.code, "CONFIG_INVALID")
        for word in words:
            self.assertIn(word, caught.exception.message)

    def test_bad_input_is_refused_with_clear_errors(self) -> None:
        self.assert_refused(lambda: Warden("localhost:7400", SECRET), "not an http(s) URL")
        self.assert_refused(lambda: Warden("", SECRET), "is not a URL")
        self.assert_refused(lambda: Warden("http://127.0.0.1:7400", ""), "key is missing")
        self.assert_refused(lambda: Warden("http://127.0.0.1:7400", SECRET, timeout=0), "timeout")
        self.assert_refused(lambda: Warden("http://127.0.0.1:7400", SECRET, task_token="abc"), "not a task token")
        w = Warden(f"http://127.0.0.1:{closed_port()}", SECRET)
        self.assert_refused(lambda: w.check("", {}), "tool must be a non-empty string")
        self.assert_refused(lambda: w.check("crm.lookup", {"when": object()}), "arguments of crm.lookup are not JSON")
        self.assert_refused(lambda: w.check("crm.lookup", [1, 2]), "must be a dict")  # type: ignore[arg-type]
        self.assert_refused(lambda: w.check("crm.lookup", {}, session=""), "session must be a non-empty string")
        self.assert_refused(lambda: w.check("crm.lookup", {}, labels={"a": 1}), "labels")  # type: ignore[dict-item]
        self.assert_refused(
            lambda: w.check("crm.lookup", {}, estimate={"tokens": 5}),  # type: ignore[typeddict-unknown-key]
            "estimate has no field 'tokens'",
        )
        self.assert_refused(lambda: w.complete("c-1", usage={"input_tokens": -1}), "usage.input_tokens")
        self.assert_refused(lambda: w.start_task(agent="x"), "needs who initiates the task")
        self.assert_refused(lambda: w.delegate("child", key=SECRET), "needs a task token in force")
        self.assert_refused(lambda: w.start_task(agent="x", initiator={"subject": "u"}, ttl=0), "ttl must be whole seconds")
        self.assert_refused(lambda: w.guard(tool=""), "tool must be a non-empty string")
        self.assert_refused(lambda: w.guard(tool="x", approval_timeout=-1), "approval_timeout")

        @w.guard(tool="crm.lookup")
        def lookup(id: int) -> int:
            return id

        self.assert_refused(lambda: lookup(1, 2), "crm.lookup was called with arguments it does not take")

    def test_key_never_appears_in_repr_or_errors(self) -> None:
        url = f"http://user:pw@127.0.0.1:{closed_port()}"
        w = Warden(url, SECRET)
        self.assertNotIn(SECRET, repr(w))
        self.assertNotIn(SECRET, repr(AsyncWarden(url, SECRET)))
        with self.assertRaises(WardenError) as caught:
            w.check("crm.lookup", {})
        shown = f"{caught.exception} {caught.exception!r} {caught.exception.details}"
        self.assertNotIn(SECRET, shown)
        self.assertNotIn("pw", shown)


if __name__ == "__main__":
    unittest.main()
