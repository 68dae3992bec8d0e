import type { Command } from '@commander-js/extra-typings';
import type { PersonView } from '@warden/api';
import { type Done, withApi } from '../approval-program.js';
import { type CliIo, EXIT } from '../cli-io.js';
import { type ApiFlags, apiClient } from './api-client.js';

/**
 * `warden people revoke NAME`: cuts a person signed in through SSO off now (their role becomes none), so
 * every session and token of theirs stops at its next request; their next IdP sign-in reads their groups again.
 */
export async function peopleRevoke(
  name: string,
  o: ApiFlags & { reason?: string; json?: boolean },
  io: CliIo,
): Promise<number> {
  const p = await apiClient(o).post<PersonView>(
    `/v1/people/${encodeURIComponent(name)}/revoke`,
    o.reason ? { reason: o.reason } : {},
  );
  if (o.json) io.out(`${JSON.stringify(p)}\n`);
  else {
    io.out(
      `Revoked ${p.name} (${p.issuer} ${p.subject}): every session and token of theirs is refused from now on.\n`,
    );
    io.err('remove them from the IdP groups too: their next sign-in reads their groups again\n');
  }
  return EXIT.ok;
}

/** Adds `warden people …`, a client of a running server; `done` gets the exit code. */
export function addPeopleCommands(program: Command, io: CliIo, done: Done): void {
  const people = program
    .command('people')
    .description('people signed in through SSO (a client of `warden serve`)');
  withApi(people.command('revoke'))
    .description('cut a person off now: every session and token of theirs stops (admin)')
    .argument('<name>', 'their Warden name (their email by default) or their subject at the IdP')
    .option('--reason <text>', 'why (recorded)')
    .option('--json', 'print the person as JSON')
    .action(async (name, o) => done(await peopleRevoke(name, o, io)));
}
