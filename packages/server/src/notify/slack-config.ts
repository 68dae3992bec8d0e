import { envReference } from '@warden/core';
import { z } from 'zod';

/** The outbox target name of the Slack app: a webhook name cannot contain `:`, so none can take it. */
export const SLACK_TARGET = 'slack:app';

/**
 * The approval events the Slack app acts on: a request (or its escalation) is posted with Approve and Deny
 * buttons; a decision updates the messages posted for it.
 */
export const SLACK_EVENTS = ['approval.requested', 'approval.escalated', 'approval.decided'] as const;

/** How a Slack user may be mapped to a Warden person, tried in the order given. */
export const SLACK_MAP_BY = ['map', 'email'] as const;
export type SlackMapBy = (typeof SLACK_MAP_BY)[number];

/** A secret is read from the environment only: a config file is read by more people than a secret should be. */
const envOnly = (what: string) =>
  z.string().refine((s) => envReference(s) !== undefined, {
    error: `must be env:VARIABLE (the ${what} is read from the environment, never written in the config file)`,
  });

/** A Slack user id (U…, or W… on Enterprise Grid), as Slack sends it in `user.id`. */
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,30}$/;

/** A Slack workspace id (T…) and an Enterprise Grid organisation id (E…). */
const SLACK_TEAM_ID = /^T[A-Z0-9]{2,30}$/;
const SLACK_ENTERPRISE_ID = /^E[A-Z0-9]{2,30}$/;

/** The `slack` section of the server configuration, as written. */
export const SlackConfigSchema = z
  .strictObject({
    botToken: envOnly('bot token (xoxb-…)').meta({
      description:
        "The Slack app's bot token, as env:NAME. Scopes: chat:write, users:read, users:read.email.",
    }),
    signingSecret: envOnly('signing secret').meta({
      description:
        "The Slack app's signing secret, as env:NAME: every interactivity request is verified with it.",
    }),
    channel: z
      .string()
      .min(1)
      .max(100)
      .meta({ description: 'Where approval requests are posted: a channel id (C…) the app is a member of.' }),
    teamId: z
      .string()
      .regex(SLACK_TEAM_ID, { error: 'is not a Slack workspace id (T…, as auth.test answers team_id)' })
      .optional()
      .meta({
        description:
          'The Slack workspace (T…) whose members may vote. A click from anyone else (a Slack Connect guest, another workspace) is refused. Required when mapBy includes email.',
      }),
    enterpriseId: z
      .string()
      .regex(SLACK_ENTERPRISE_ID, { error: 'is not a Slack Enterprise Grid id (E…)' })
      .optional()
      .meta({
        description: 'On Enterprise Grid, the organisation (E…) the workspace belongs to: checked too.',
      }),
    apiBaseUrl: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .default('https://slack.com/api')
      .meta({ description: "Slack's Web API. Default https://slack.com/api." }),
    users: z
      .record(z.string(), z.string().min(1).max(500))
      .default({})
      .superRefine((users, ctx) => {
        for (const id of Object.keys(users)) {
          if (!SLACK_USER_ID.test(id)) {
            ctx.addIssue({
              code: 'custom',
              path: [id],
              message: 'is not a Slack user id (U… or W…, as in a profile\'s "Copy member ID")',
            });
          }
        }
      })
      .meta({
        description: 'Slack user id → Warden person name (the principal of their key or SSO record).',
      }),
    mapBy: z
      .array(z.enum(SLACK_MAP_BY))
      .min(1)
      .default([...SLACK_MAP_BY])
      .refine((m) => new Set(m).size === m.length, { error: 'names a mapping twice' })
      .meta({
        description:
          "How a Slack user becomes a Warden person, in order: `map` (the users map), `email` (users.info's profile email: an SSO person, or a human key named by it). Default [map, email].",
      }),
  })
  // Email mapping trusts whoever may set a member's email: only the app's own workspace may, never a
  // Slack Connect organisation, so which workspace a clicker belongs to must be known.
  .refine((s) => s.teamId !== undefined || !s.mapBy.includes('email'), {
    path: ['teamId'],
    error:
      "is required when mapBy includes email (the workspace id T…, from Slack's auth.test): without it a member of another organisation could vote as whoever their admin names in their email",
  })
  .optional();

/** The Slack app's settings with its secrets read from the environment. */
export interface SlackConfig {
  readonly botToken: string;
  readonly signingSecret: string;
  readonly channel: string;
  readonly apiBaseUrl: string;
  /** The workspace whose members may vote (required with email mapping). */
  readonly teamId?: string;
  readonly enterpriseId?: string;
  readonly users: Readonly<Record<string, string>>;
  readonly mapBy: readonly SlackMapBy[];
}

/** Slack bot tokens start xoxb- (xoxp- user tokens and xoxe. rotating tokens work too). */
const TOKEN_SHAPE = /^xox[a-z]-[A-Za-z0-9-]+$|^xoxe\.xox[a-z]-[A-Za-z0-9.-]+$/;
/** Slack's signing secrets are 32 hex characters; anything much shorter is a mistake. */
const MIN_SIGNING_SECRET = 16;

/**
 * Reads the section's env: secrets. Returns the problems (each naming the field and the variable, never
 * the value) instead of throwing, so the caller reports them with every other configuration problem.
 */
export function resolveSlackConfig(
  raw: z.output<typeof SlackConfigSchema>,
  env: NodeJS.ProcessEnv,
  source: string | undefined,
): { config: SlackConfig | undefined; problems: string[] } {
  if (!raw) return { config: undefined, problems: [] };
  const problems: string[] = [];
  const read = (field: 'botToken' | 'signingSecret', check: (v: string) => string | undefined): string => {
    const name = envReference(raw[field]) as string;
    const value = env[name];
    if (value === undefined || value === '') {
      problems.push(`slack.${field} (${source}): the environment variable ${name} is not set`);
      return '';
    }
    const problem = check(value);
    if (problem) problems.push(`slack.${field} (${source}): $${name} ${problem}`);
    return value;
  };
  const botToken = read('botToken', (v) =>
    TOKEN_SHAPE.test(v) ? undefined : 'does not look like a Slack bot token (xoxb-…)',
  );
  const signingSecret = read('signingSecret', (v) =>
    v.length < MIN_SIGNING_SECRET
      ? `must be at least ${MIN_SIGNING_SECRET} characters (Slack's signing secret, from Basic Information)`
      : undefined,
  );
  return {
    config: { ...raw, apiBaseUrl: raw.apiBaseUrl.replace(/\/+$/, ''), botToken, signingSecret },
    problems,
  };
}
