import { policyJsonSchema } from '@warden/core';
import type { CliIo } from '../cli-io.js';
import { EXIT } from '../cli-io.js';

/** `warden policy schema`: prints the JSON Schema of policy files, for editors. */
export function policySchema(io: CliIo): number {
  io.out(`${JSON.stringify(policyJsonSchema(), null, 2)}\n`);
  return EXIT.ok;
}
