import { z } from 'zod';

/** A tool call as Warden sees it. `agent` is bound to the caller's key upstream, never self-declared. */
export const ToolCallSchema = z.strictObject({
  agent: z.string().min(1).max(200),
  tool: z.string().min(1).max(500),
  args: z.record(z.string(), z.unknown()).optional(),
  session: z.string().max(200).optional(),
  target: z.string().max(500).optional(),
  labels: z.record(z.string(), z.string()).optional(),
  triggeredBy: z.string().max(200).optional(),
  delegationChain: z.array(z.string().min(1).max(200)).max(64).optional(),
  now: z.coerce.date().optional(),
});

/** A validated tool call. */
export type ToolCall = z.infer<typeof ToolCallSchema>;
