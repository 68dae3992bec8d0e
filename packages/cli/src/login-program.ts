import { type Command, Option } from '@commander-js/extra-typings';
import { type Done, withApi } from './approval-program.js';
import type { CliIo } from './cli-io.js';
import { DEFAULT_URL } from './commands/api-client.js';
import { login, logout, whoami } from './commands/login.js';

const urlOption = () => new Option('--url <url>', 'the Warden server').env('WARDEN_URL').default(DEFAULT_URL);

/** Adds `warden login`, `warden logout` and `warden whoami`: a person's SSO sign-in for the API commands. */
export function addLoginCommands(program: Command, io: CliIo, done: Done): void {
  program
    .command('login')
    .description(
      "sign in with your company's identity provider (device code); later commands use the saved sign-in",
    )
    .addOption(urlOption())
    .action(async (o) => done(await login(o, io)));
  program
    .command('logout')
    .description('sign the saved sign-in out on the server and forget it')
    .addOption(urlOption())
    .action(async (o) => done(await logout(o, io)));
  withApi(program.command('whoami'))
    .description('who the server says you are: the key, or the saved sign-in')
    .option('--json', 'print it as JSON')
    .action(async (o) => done(await whoami(o, io)));
}
