import { join } from 'node:path';
import type { CliIo } from '../cli-io.js';
import { shellArg, shownPath } from './audit-store.js';
import { DEMO_AGENT, DEMO_PEOPLE, DEMO_POLICY, DEMO_SESSIONS } from './demo-cast.js';
import type { DemoStory } from './demo-script.js';
import type { DemoKeys } from './demo-setup.js';
import { wardenCommand } from './warden-command.js';

/** Where the demo runs, for the texts around the story. */
export interface DemoPlace {
  readonly url: string;
  readonly db: string;
  readonly dir: string;
  /** The default port was taken and a free one is used instead. */
  readonly fellBack: boolean;
}

/** The opening: where the server is, and the keys (each shown this once). */
export function printDemoIntro(io: CliIo, at: DemoPlace, keys: DemoKeys & { admin?: string }): void {
  const rows: [string, string, string | undefined, string][] = [
    [
      'approver',
      DEMO_PEOPLE.approver,
      keys.approver,
      'approves held calls: sign in to the dashboard with it',
    ],
    ['admin', 'admin', keys.admin, 'sees and does everything (sessions, policy, keys, audit)'],
    ['agent', DEMO_AGENT, keys.agent, "the scripted agent's key"],
  ];
  io.out(
    [
      'Warden demo: a scripted support agent, governed by a policy, on a fresh database.',
      '',
      `  dashboard  ${at.url}${at.fellBack ? '  (port 7400 is taken, so a free port it is)' : ''}`,
      `  database   ${at.db}  (new; it stays when the demo ends)`,
      `  policy     warden-demo from ${shownPath(DEMO_POLICY, io)}`,
      '',
      "Keys (shown this once; they exist only in this demo's database):",
      ...rows
        .filter((r) => r[2] !== undefined)
        .map(([role, who, secret, what]) => `  ${role.padEnd(10)}${who.padEnd(19)}${secret}  ${what}`),
      '',
      `${DEMO_PEOPLE.requester} triggers the agent's task, so separation of duties keeps tom from approving it;`,
      `${DEMO_PEOPLE.approver} is someone else and may.`,
      '',
    ].join('\n'),
  );
}

/** The closing: what the story left behind, and where to look at it. */
export function printWhatToLookAt(io: CliIo, at: DemoPlace, story: DemoStory, serving: boolean): void {
  const db = shellArg(shownPath(at.db, io));
  const policy = shellArg(shownPath(DEMO_POLICY, io));
  const report = shellArg(shownPath(join(at.dir, 'soc2-report'), io));
  const today = new Date().toISOString().slice(0, 10); // a date: that whole UTC day is included
  const approval = story.approval
    ? `the $120 refund: ${approvalText(story.approval)}`
    : 'the $120 refund request';
  const paused =
    story.paused.length > 0
      ? `${story.paused.join(' and ')} ${story.paused.length === 1 ? 'is' : 'are'} paused: open one and press Resume`
      : 'the three sessions of the story';
  const dashboard = serving
    ? `  Dashboard  ${at.url}  (sign in with the approver key, or the admin key)`
    : `  Dashboard  serve the demo's database again first:  ${wardenCommand()} serve --db ${db} --policy ${policy}`;
  // While the demo serves, each page is a link; afterwards they are the same paths on the served database.
  const page = (path: string) => (serving ? `${at.url}${path}` : path);
  io.out(
    [
      '',
      'What to look at',
      '',
      dashboard,
      `    Approvals  ${page('/approvals')}`,
      `               ${approval}`,
      `    Sessions   ${page('/sessions?state=paused')}`,
      `               ${paused}`,
      `               (as ${DEMO_PEOPLE.approver} or the admin; ${DEMO_PEOPLE.requester}, who triggered them, could not)`,
      `    Audit      ${page('/audit')}`,
      `               every decision with its rule, the vote, the budget breach, the breaker trip; hash-chained`,
      `    Budgets    ${page('/budgets')}`,
      `               demo-session-calls: 8 calls a session (${DEMO_SESSIONS.research} used them all)`,
      `    Policy     ${page('/policy')}`,
      `               warden-demo: the rules behind every line above (${policy}); replay a change there`,
      '',
      '  CLI (another terminal)',
      `    ${wardenCommand()} audit query --db ${db} --limit 500`,
      `    ${wardenCommand()} audit verify --db ${db}`,
      `    ${wardenCommand()} report soc2 --db ${db} --from 1d --to ${today} --out ${report}`,
      `    ${wardenCommand()} policy replay --policy ${policy} --db ${db}   # or a changed copy of it: what would differ?`,
      ...(serving
        ? [`    WARDEN_URL=${at.url} WARDEN_KEY=<admin key> ${wardenCommand()} sessions list`]
        : []),
      '',
      serving
        ? `The server keeps running for you to look around: Ctrl-C stops it (the database stays in ${at.dir}).`
        : `Done (--exit): the server stops; the database stays in ${at.dir}.`,
      '',
    ].join('\n'),
  );
}

function approvalText(a: NonNullable<DemoStory['approval']>): string {
  const by = a.decidedBy ? ` by ${a.decidedBy}` : '';
  // Once the approved call has run, its request is `used`: it was approved, and it cannot be used again.
  return a.status === 'used' ? `approved${by}, then used by the refund call` : `${a.status}${by}`;
}
