import { fileURLToPath } from 'node:url';

/** The demo's policy, shipped in this package (`demo/policy.yaml`): one agent with reads, a reviewed refund, a block, a budget and a breaker. */
export const DEMO_POLICY = fileURLToPath(new URL('../../demo/policy.yaml', import.meta.url));

/** The scripted agent, as the policy and its key name it. */
export const DEMO_AGENT = 'demo-agent';

/**
 * The people of the story. The requester triggers the agent's task, so separation of duties keeps them
 * from approving it; the approver is someone else, and so is the stand-in of `--auto-approve`.
 */
export const DEMO_PEOPLE = {
  requester: 'tom@demo.example',
  approver: 'ana@demo.example',
  autoApprover: 'auto-approver@demo.example',
} as const;

/** One session per chapter of the story (the database is always fresh, so fixed names are unique). */
export const DEMO_SESSIONS = {
  ticket: 'ticket-4711',
  research: 'research-4711',
  runaway: 'status-loop-4711',
} as const;
