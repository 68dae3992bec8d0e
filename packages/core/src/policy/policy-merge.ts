import type { Diagnostic } from './diagnostic.js';
import type { PolicyDocument } from './policy-schema.js';
import { diag, type ParsedYaml } from './yaml-source.js';

/** A validated document together with the file it came from. */
export interface ValidDocument {
  readonly yaml: ParsedYaml;
  readonly doc: PolicyDocument;
}

type RecordKey = 'approverGroups' | 'targets' | 'groups' | 'agents';
const RECORD_KEYS: readonly RecordKey[] = ['approverGroups', 'targets', 'groups', 'agents'];
const SINGLE_KEYS = ['warden', 'name', 'description', 'mode', 'defaults', 'redaction'] as const;

/** The merged policy, plus for each named entry the file that defined it. */
export interface MergedPolicy {
  readonly doc: PolicyDocument;
  readonly origin: ReadonlyMap<string, ParsedYaml>;
}

/**
 * Merges the files of a policy folder. Each setting and each named agent, group, target or approver
 * group may be defined in one file only: a second definition is an error rather than a silent override.
 */
export function mergeDocuments(docs: readonly ValidDocument[], diagnostics: Diagnostic[]): MergedPolicy {
  const merged: Record<string, unknown> = {};
  const origin = new Map<string, ParsedYaml>();
  for (const { yaml, doc } of docs) {
    for (const key of SINGLE_KEYS) {
      if (doc[key] === undefined) continue;
      const prev = origin.get(key);
      if (prev) {
        diagnostics.push(
          diag(
            yaml.file,
            yaml.locate([key], { key: true }),
            'DUPLICATE_DEFINITION',
            `"${key}" is already set in ${prev.file}`,
          ),
        );
        continue;
      }
      merged[key] = doc[key];
      origin.set(key, yaml);
    }
    for (const key of RECORD_KEYS) {
      const entries = doc[key];
      if (!entries) continue;
      if (merged[key] === undefined) merged[key] = {};
      const into = merged[key] as Record<string, unknown>;
      for (const [name, value] of Object.entries(entries)) {
        const id = `${key}.${name}`;
        const prev = origin.get(id);
        if (prev) {
          diagnostics.push(
            diag(
              yaml.file,
              yaml.locate([key, name], { key: true }),
              'DUPLICATE_DEFINITION',
              `${key} "${name}" is already defined in ${prev.file}`,
            ),
          );
          continue;
        }
        into[name] = value;
        origin.set(id, yaml);
      }
    }
  }
  return { doc: merged as PolicyDocument, origin };
}
