"""The async guard and AsyncWarden: decided and recorded off the event loop, context across awaits."""

from __future__ import annotations

import asyncio
import unittest

from warden import AsyncWarden, CallBlocked, PendingApproval

from .support import api, events, server, session


class AsyncTests(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.warden = AsyncWarden(server().url, server().agent_key)

    async def asyncTearDown(self) -> None:
        self.warden.close()

    async def test_async_guard_allows_and_records(self) -> None:
        @self.warden.guard(tool="billing.refund")
        async def refund(amount: int) -> str:
            await asyncio.sleep(0)
            return f"refunded {amount}"

        s = session("async-allow")
        with self.warden.context(session=s):
            self.assertEqual(await refund(amount=10), "refunded 10")
        done = events(s, "call.completed")
        self.assertEqual(done[0]["outcome"]["result"], "refunded 10")

    async def test_async_guard_blocked_raises_and_never_runs(self) -> None:
        ran: list[int] = []

        @self.warden.guard(tool="billing.refund")
        async def refund(amount: int) -> str:
            ran.append(amount)
            return "refunded"

        with self.assertRaises(CallBlocked):
            await refund(1000)
        self.assertEqual(ran, [])

    async def test_async_guard_review_approved_while_loop_keeps_running(self) -> None:
        loop = asyncio.get_running_loop()
        pending = asyncio.Event()
        ids: list[str] = []

        def waiting(p: PendingApproval) -> None:  # called from the worker thread the wait runs in
            ids.append(p.approval_id)
            loop.call_soon_threadsafe(pending.set)

        @self.warden.guard(tool="billing.refund", on_approval_pending=waiting, approval_timeout=120)
        async def refund(amount: int) -> str:
            return f"refunded {amount}"

        async def approver() -> int:
            # Runs on the same loop while the guarded call waits: were the wait blocking the loop, this
            # would never vote and the call would end in APPROVAL_TIMEOUT instead.
            await pending.wait()
            status, _ = await asyncio.to_thread(
                api, "POST", f"/v1/approvals/{ids[0]}/approve", server().approver_key, {"reason": "test"}
            )
            return status

        s = session("async-review")
        with self.warden.context(session=s):
            self.assertEqual(await asyncio.gather(refund(150), approver()), ["refunded 150", 200])
        self.assertEqual(events(s, "call.completed")[0]["outcome"]["result"], "refunded 150")

    async def test_async_context_holds_across_await_and_tasks(self) -> None:
        a, b = session("async-a"), session("async-b")

        async def in_session(s: str) -> str:
            with self.warden.context(session=s):
                await asyncio.sleep(0.01)
                d = await self.warden.check("crm.lookup", {})
                return d.session

        self.assertEqual(await asyncio.gather(in_session(a), in_session(b)), [a, b])
        d = await self.warden.check("crm.lookup", {"id": 1}, session=a)
        await self.warden.complete(d.call_id, {"ok": True})
        self.assertEqual(len(events(a, "call.completed")), 1)


if __name__ == "__main__":
    unittest.main()
