import type { SourceRef } from './compiled-policy.js';
import type { Diagnostic } from './diagnostic.js';
import { didYouMean } from './did-you-mean.js';
import { diag } from './yaml-source.js';

interface GroupSpec {
  readonly extends: readonly string[];
  readonly src: SourceRef;
}

/**
 * Resolves each agent's groups to the ordered list of every group it inherits from (its own groups
 * first, then what they extend, depth-first, without repeats). Reports unknown groups and cycles;
 * returns undefined when the inheritance graph is broken.
 */
export function resolveGroups(
  groups: ReadonlyMap<string, GroupSpec>,
  agents: readonly { name: string; groups: readonly string[]; src: SourceRef }[],
  diagnostics: Diagnostic[],
): Map<string, string[]> | undefined {
  let ok = true;
  const unknown = (names: readonly string[], src: SourceRef, key: string) => {
    names.forEach((g, i) => {
      if (!groups.has(g)) {
        ok = false;
        const known = [...groups.keys()].join(', ') || 'none defined';
        diagnostics.push(
          diag(
            src.yaml.file,
            src.yaml.locate([...src.path, key, i]),
            'UNKNOWN_GROUP',
            `unknown group "${g}"${didYouMean(g, groups.keys())} (known: ${known})`,
          ),
        );
      }
    });
  };
  for (const [, g] of groups) unknown(g.extends, g.src, 'extends');
  for (const a of agents) unknown(a.groups, a.src, 'groups');

  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const visit = (name: string, trail: string[]) => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      const key = [...cycle].sort().join('|');
      if (!reported.has(key)) {
        reported.add(key);
        ok = false;
        const g = groups.get(name) as GroupSpec;
        diagnostics.push(
          diag(
            g.src.yaml.file,
            g.src.yaml.locate([...g.src.path, 'extends']),
            'GROUP_CYCLE',
            `group inheritance loops: ${cycle.join(' → ')}`,
          ),
        );
      }
      return;
    }
    state.set(name, 'visiting');
    for (const parent of groups.get(name)?.extends ?? [])
      if (groups.has(parent)) visit(parent, [...trail, name]);
    state.set(name, 'done');
  };
  for (const name of groups.keys()) visit(name, []);
  if (!ok) return undefined;

  const closure = (roots: readonly string[]): string[] => {
    const out: string[] = [];
    const walk = (g: string) => {
      if (out.includes(g)) return;
      out.push(g);
      for (const p of groups.get(g)?.extends ?? []) walk(p);
    };
    for (const r of roots) walk(r);
    return out;
  };
  return new Map(agents.map((a) => [a.name, closure(a.groups)]));
}
