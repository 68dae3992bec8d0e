/**
 * Every shell command in the README and in each page of docs/ (ARCHITECTURE.md aside), run as a user
 * follows it: page by page, each page in its own fresh copy of the checkout (after `npm ci` and `npm run
 * build`) and its own terminal (readme-terminal.ts), in order, section by section. A command must exit
 * 0, or the code its block's `expect-exit` marker names; a block that cannot run here carries a
 * `skip (reason)` marker (readme-blocks.ts); files a page asks the user to write are written (`file
 * PATH` marker) and a `$schema` path in them must reach a file. A page whose commands name a
 * `postgres://` URL gets a database of its own on the run's PostgreSQL cluster. Needs the built CLI
 * (`npm run build`).
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
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import { BIN, childEnv, REPO } from '../../server/test-support/serve-process.js';
import { DOC_PAGES } from './doc-pages.js';
import { parseReadme, type ReadmeCommand, type ReadmeFile, type ReadmeSection } from './readme-blocks.js';
import { freePort, ReadmeTerminal, withoutComment } from './readme-terminal.js';

interface Page {
  readonly path: string;
  readonly sections: ReadmeSection[];
  readonly found: number;
  readonly needsPostgres: boolean;
}

const pages: Page[] = DOC_PAGES.map((path) => {
  const sections = parseReadme(readFileSync(join(REPO, path), 'utf8'), path);
  const commands = sections.flatMap((s) => s.steps).flatMap((s) => (s.kind === 'command' ? [s.command] : []));
  return {
    path,
    sections,
    found: commands.length,
    needsPostgres: commands.some((c) => !c.skip && /\bpostgres(?:ql)?:\/\//.test(c.text)),
  };
});
/**
 * Pages run in two lanes at once, each lane's pages one after the other and each page's sections in
 * order: a page spends most of its time starting processes, and CI machines have two cores or more.
 * Pages go to the lane with the fewest commands so far, so the lanes end at about the same time.
 */
const LANES = 2;
const lanes: Page[][] = Array.from({ length: LANES }, () => []);
for (const page of [...pages].sort((a, b) => b.found - a.found)) {
  const load = (lane: Page[]) => lane.reduce((n, p) => n + p.found, 0);
  lanes.reduce((least, lane) => (load(lane) < load(least) ? lane : least)).push(page);
}
/** Each page's commands with what they printed, left in test-output/readme-commands.log after a run. */
const transcripts = new Map<string, string[]>(pages.map((p) => [p.path, []]));
const summaries = new Map<string, string[]>();

afterAll(() => {
  mkdirSync(join(REPO, 'test-output'), { recursive: true });
  const transcript = pages.flatMap((p) => transcripts.get(p.path) ?? []);
  writeFileSync(join(REPO, 'test-output/readme-commands.log'), `${transcript.join('\n\n')}\n`);
  console.log(pages.flatMap((p) => summaries.get(p.path) ?? []).join('\n'));
});

describe('the README and docs/, followed literally', () => {
  it('have shell commands to follow, on every page', () => {
    expect(pages.map((p) => p.path)).toContain('docs/policy.md');
    for (const page of pages) expect(page.found, `${page.path} has no shell command`).toBeGreaterThan(0);
    expect(pages.reduce((n, p) => n + p.found, 0)).toBeGreaterThan(60);
  });
});

for (const [i, lane] of lanes.entries()) {
  describe.concurrent(`lane ${i + 1}`, () => {
    for (const page of lane) describePage(page);
  });
}

/** One page in a fresh checkout and terminal of its own: a test per section, in order. */
function describePage(page: Page): void {
  describe(page.path, { concurrent: false }, () => {
    const tally = { run: 0, skipped: [] as string[], bySection: [] as string[] };
    let dir: string;
    let terminal: ReadmeTerminal;

    beforeAll(async () => {
      if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
      dir = mkdtempSync(join(tmpdir(), 'warden-readme-'));
      freshCheckout(dir);
      const databaseUrl = page.needsPostgres
        ? await createTestDatabase(inject('postgresUrl'), 'docs')
        : undefined;
      terminal = new ReadmeTerminal(dir, await freePort(), childEnv({ NO_COLOR: '1' }), {
        ...(databaseUrl ? { databaseUrl } : {}),
      });
    });

    afterAll(async () => {
      await terminal?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
      summaries.set(page.path, [
        `${page.path}: ${page.found} found, ${tally.run} run, ${tally.skipped.length} skipped`,
        ...tally.bySection,
        ...tally.skipped.map((s) => `  skipped: ${s}`),
      ]);
    });

    for (const section of page.sections) {
      it(`§ ${section.title}`, async () => {
        let run = 0;
        let skipped = 0;
        for (const step of section.steps) {
          if (step.kind === 'file') {
            writePageFile(dir, page.path, step);
            continue;
          }
          const { command } = step;
          if (command.skip) {
            skipped++;
            tally.skipped.push(`line ${command.line} \`${command.text}\` (${command.skip})`);
            continue;
          }
          await runCommand(terminal, page.path, command);
          run++;
          tally.run++;
        }
        tally.bySection.push(`  § ${section.title}: ${run} run, ${skipped} skipped`);
      }, 120_000);
    }

    it('ran or skipped every command it found', () => {
      expect(tally.run + tally.skipped.length).toBe(page.found);
    });
  });
}

/** Runs one command and checks its exit code and, when its comment quotes a JSON field, its output. */
async function runCommand(terminal: ReadmeTerminal, page: string, command: ReadmeCommand): Promise<void> {
  const where = `${page} line ${command.line}: \`${command.text}\``;
  let result: Awaited<ReturnType<ReadmeTerminal['run']>>;
  try {
    result = await terminal.run(command);
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`);
  }
  const said = `${where}\nran: ${result.ran}\nexit ${result.code}, output:\n${result.output}`;
  transcripts.get(page)?.push(said);
  expect(result.code, said).toBe(command.expectExit);
  const field = /^"([\w.]+)":\s*"([^"]*)"/.exec(
    command.text.slice(withoutComment(command.text).length + 1).trim(),
  );
  if (field) expect(result.output.replace(/\s+/g, ''), said).toContain(`"${field[1]}":"${field[2]}"`);
}

/** Writes a file a page asks for; a `$schema=PATH` in it must name a file that exists from there. */
function writePageFile(dir: string, page: string, file: ReadmeFile): void {
  const path = join(dir, file.path);
  expect(
    existsSync(dirname(path)),
    `${page} line ${file.line}: ${file.path} goes in a folder no step made`,
  ).toBe(true);
  writeFileSync(path, file.content);
  for (const m of file.content.matchAll(/\$schema=(\S+)/g)) {
    const target = m[1] as string;
    if (/^https?:/.test(target)) continue;
    expect(
      existsSync(resolve(dirname(path), target)),
      `${page} line ${file.line}: $schema=${target} from ${file.path}`,
    ).toBe(true);
  }
}

/**
 * What a fresh clone holds after `npm ci` and `npm run build`: every tracked top-level entry, with
 * node_modules and the built packages. Read-only parts are linked; `examples` is copied, since the pages
 * have users copy from it.
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
