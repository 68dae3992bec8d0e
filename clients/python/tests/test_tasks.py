"""Task tokens: an initiator service key starts a task, the agent's calls carry its token, a sub-agent gets
its own by token exchange, and the LLM proxy's URLs and headers put model calls in the task."""

from __future__ import annotations

import json
import unittest
import urllib.error
import urllib.request

from warden import TASK_TOKEN_HEADER, CallBlocked, ConfigInvalid, Warden, WardenError, read_task_token

from .support import events, server


class TaskTests(unittest.TestCase):
    def setUp(self) -> None:
        self.portal = Warden(server().url, server().initiator_key)
        self.task = self.portal.start_task(agent="py-agent", initiator={"subject": "u-ann", "name": "ann"})
        self.agent = Warden(server().url, server().agent_key, task_token=self.task.token)
        self.addCleanup(self.portal.close)
        self.addCleanup(self.agent.close)

    def test_initiator_starts_task_and_calls_carry_its_token(self) -> None:
        self.assertEqual(self.task.agent, "py-agent")
        self.assertEqual(self.task.initiator["name"], "ann")
        self.assertNotIn(self.task.token, repr(self.task))
        self.assertEqual(read_task_token(self.task.token)["session"], self.task.session)
        d = self.agent.check("crm.lookup", {"id": 1})
        self.assertEqual((d.effect, d.session), ("allow", self.task.session))

        @self.agent.guard(tool="crm.lookup")
        def lookup(id: int) -> str:
            return f"customer {id}"

        self.assertEqual(lookup(2), "customer 2")
        decided = events(self.task.session, "call.decided")
        self.assertEqual(len(decided), 2)
        for e in decided:
            self.assertEqual(e["triggeredBy"], "ann")
            # Verified: the initiator as the portal's key vouched for them, under the task's token.
            self.assertEqual(e["identity"]["initiator"]["subject"], "u-ann")
            self.assertEqual(e["identity"]["taskToken"]["taskId"], self.task.task_id)

    def test_delegate_exchanges_token_for_child_agent(self) -> None:
        child = self.agent.delegate("py-worker", key=server().worker_key)
        self.addCleanup(child.close)
        self.assertIsNotNone(child.task_token)
        self.assertNotEqual(child.task_token, self.task.token)
        d = child.check("crm.lookup", {"id": 3})
        self.assertEqual((d.effect, d.rule_id, d.session), ("allow", "worker-lookups", self.task.session))
        mine = [e for e in events(self.task.session, "call.decided") if e["callId"] == d.call_id]
        self.assertEqual(mine[0]["agent"], "py-worker")
        self.assertEqual(mine[0]["delegationChain"], ["py-agent"])
        self.assertEqual(mine[0]["triggeredBy"], "ann")
        self.assertEqual(mine[0]["identity"]["chain"][0]["method"], "task_token")
        # The child token is py-worker's alone: presented with py-agent's key it is refused.
        assert child.task_token is not None
        refused = self.agent.check("crm.lookup", {}, task_token=child.task_token)
        self.assertEqual((refused.effect, refused.code), ("block", "TASK_TOKEN_INVALID"))
        with self.agent.context(task_token=child.task_token), self.assertRaises(CallBlocked) as caught:
            self.agent.guard(tool="crm.lookup")(lambda: "never")()
        self.assertEqual(caught.exception.code, "TASK_TOKEN_INVALID")
        self.assertIn("a token is its agent's alone", caught.exception.message)

    def test_context_task_token_and_a_body_that_disagrees(self) -> None:
        plain = Warden(server().url, server().agent_key)
        self.addCleanup(plain.close)
        with plain.context(task_token=self.task.token):
            d = plain.check("crm.lookup", {})
            self.assertEqual(d.session, self.task.session)
            mismatch = plain.check("crm.lookup", {}, session="not-the-tasks")
        self.assertEqual((mismatch.effect, mismatch.code), ("block", "TASK_TOKEN_MISMATCH"))
        with self.assertRaises(ConfigInvalid):
            plain.delegate("py-worker", key=server().worker_key)  # no token in force out here

    def test_agent_key_cannot_start_a_task(self) -> None:
        with self.assertRaises(WardenError) as caught:
            self.agent.start_task(initiator={"subject": "u-bob", "name": "bob"})
        self.assertEqual(caught.exception.code, "FORBIDDEN")

    def test_proxy_base_urls_and_headers_reach_the_metering_proxy(self) -> None:
        url = server().url
        self.assertEqual(self.agent.openai_base_url(), f"{url}/llm/openai/v1")
        self.assertEqual(self.agent.anthropic_base_url(), f"{url}/llm/anthropic")
        headers = self.agent.proxy_headers()
        self.assertEqual(headers, {TASK_TOKEN_HEADER: self.task.token})
        plain = Warden(url, server().agent_key)
        self.assertEqual(plain.proxy_headers(session="s-1"), {"Warden-Session": "s-1"})
        # What the OpenAI Python client sends to base_url + /chat/completions: the policy refuses the model
        # (403 in OpenAI's format), decided in the task's session because the token went with it.
        body = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}
        req = urllib.request.Request(
            f"{self.agent.openai_base_url()}/chat/completions",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"authorization": f"Bearer {server().agent_key}", "content-type": "application/json", **headers},
        )
        with self.assertRaises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=30)
        self.assertEqual(caught.exception.code, 403)
        self.assertEqual(json.loads(caught.exception.read())["error"]["type"], "permission_error")
        llm = [e for e in events(self.task.session, "call.decided") if e.get("tool") == "llm:openai"]
        self.assertEqual(len(llm), 1)
        self.assertEqual(llm[0]["triggeredBy"], "ann")


if __name__ == "__main__":
    unittest.main()
