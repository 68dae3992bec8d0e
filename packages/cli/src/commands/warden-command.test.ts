import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { wardenCommand } from './warden-command.js';

describe('wardenCommand', () => {
  it('is `npx warden` for a CLI installed under node_modules', () => {
    const installed = pathToFileURL('/srv/app/node_modules/@warden/cli/dist/commands/serve.js').href;
    expect(wardenCommand(installed)).toBe('npx warden');
  });

  it("is `npm run warden --` in the repository's checkout (this file)", () => {
    expect(wardenCommand()).toBe('npm run warden --');
    expect(wardenCommand(pathToFileURL('/work/warden/packages/cli/dist/commands/serve.js').href)).toBe(
      'npm run warden --',
    );
  });
});
