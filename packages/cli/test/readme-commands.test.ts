/**
 * Every shell command in the README, run as a user follows it: in order, section by section, in one
 * terminal (readme-terminal.ts) working in a fresh copy of the checkout, after `npm ci` and `npm run
 * build`. A command must exit 0, or the code its block's `expect-exit` marker names; a block that
 * cannot run here carries a `skip (reason)` marker (readme-blocks.ts); files the README asks the user to
 * write are written (`file PATH` marker) and a `$schema` path in them must reach a file. Needs the built
 * CLI (`npm run build`).
 */
import { execFileSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, childEnv, REPO } from '../../server/test-support/serve-process.js';
import { parseReadme, type ReadmeCommand, type ReadmeFile } from './readme-blocks.js';
import { ReadmeTerminal, withoutComment } from './readme-terminal.js';

const sections = parseReadme(readFileSync(join(REPO, 'README.md'), 'utf8'));
const found = sections.flatMap((s) => s.steps).filter((s) => s.kind === 'command').length;
/** Every command with what it printed, left in test-output/readme-commands.log to read after a run. */
const transcript: string[] = [];
const tally = { run: 0, skipped: [] as string[], bySection: [] as string[] };

let dir: string;
let terminal: ReadmeTerminal;

beforeAll(async () => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
  dir = mkdtempSync(join(tmpdir(), 'warden-readme-'));
  freshCheckout(dir);
  terminal = new ReadmeTerminal(dir, await freePort(), childEnv({ NO_COLOR: '1' }));
});

afterAll(async () => {
  await terminal?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(REPO, 'test-output'), { recursive: true });
  writeFileSync(join(REPO, 'test-output/readme-commands.log'), `${transcript.join('\n\n')}\n`);
  console.log(
    `README commands: ${found} found, ${tally.run} run, ${tally.skipped.length} skipped\n` +
      [...tally.bySection, ...tally.skipped.map((s) => `  skipped: ${s}`)].join('\n'),
  );
});

describe('the README, followed literally', () => {
  it('has shell commands to follow', () => {
    expect(found).toBeGreaterThan(20);
  });

  for (const section of sections) {
    it(`§ ${section.title}`, async () => {
      let run = 0;
      let skipped = 0;
      for (const step of section.steps) {
        if (step.kind === 'file') {
          writeReadmeFile(step);
          continue;
        }
        const { command } = step;
        if (command.skip) {
          skipped++;
          tally.skipped.push(`line ${command.line} \`${command.text}\` (${command.skip})`);
          continue;
        }
        await runCommand(command);
        run++;
        tally.run++;
      }
      tally.bySection.push(`  § ${section.title}: ${run} run, ${skipped} skipped`);
    }, 120_000);
  }

  it('ran or skipped every command it found', () => {
    expect(tally.run + tally.skipped.length).toBe(found);
  });
});

/** Runs one command and checks its exit code and, when its comment quotes a JSON field, its output. */
async function runCommand(command: ReadmeCommand): Promise<void> {
  const where = `README line ${command.line}: \`${command.text}\``;
  let result: Awaited<ReturnType<ReadmeTerminal['run']>>;
  try {
    result = await terminal.run(command);
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`);
  }
  const said = `${where}\nran: ${result.ran}\nexit ${result.code}, output:\n${result.output}`;
  transcript.push(said);
  expect(result.code, said).toBe(command.expectExit);
  const field = /^"([\w.]+)":\s*"([^"]*)"/.exec(
    command.text.slice(withoutComment(command.text).length + 1).trim(),
  );
  if (field) expect(result.output.replace(/\s+/g, ''), said).toContain(`"${field[1]}":"${field[2]}"`);
}

/** Writes a file the README asks for; a `$schema=PATH` in it must name a file that exists from there. */
function writeReadmeFile(file: ReadmeFile): void {
  const path = join(dir, file.path);
  expect(
    existsSync(dirname(path)),
    `README line ${file.line}: ${file.path} goes in a folder no step made`,
  ).toBe(true);
  writeFileSync(path, file.content);
  for (const m of file.content.matchAll(/\$schema=(\S+)/g)) {
    const target = m[1] as string;
    if (/^https?:/.test(target)) continue;
    expect(
      existsSync(resolve(dirname(path), target)),
      `README line ${file.line}: $schema=${target} from ${file.path}`,
    ).toBe(true);
  }
}

/**
 * What a fresh clone holds after `npm ci` and `npm run build`: every tracked top-level entry, with
 * node_modules and the built packages. Read-only parts are linked; `examples` is copied, since the README
 * has users copy from it.
 */
function freshCheckout(into: string): void {
  const tracked = execFileSync('git', ['ls-files'], { cwd: REPO, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  const top = new Set(tracked.map((p) => p.split('/')[0] as string));
  top.add('node_modules');
  for (const name of top) {
    if (!existsSync(join(REPO, name))) continue;
    if (name === 'examples') cpSync(join(REPO, name), join(into, name), { recursive: true });
    else symlinkSync(join(REPO, name), join(into, name));
  }
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => ok(port));
    });
  });
}
