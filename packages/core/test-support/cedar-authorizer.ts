/**
 * A small wrapper around @cedar-policy/cedar-wasm: preparse a policy set once, then authorize calls
 * against it. Used as the reference engine by the differential test and as the baseline of the benchmark.
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import {
  type AuthorizationAnswer,
  type DetailedError,
  type EntityJson,
  type EntityUidJson,
  getCedarVersion,
  preparsePolicySet,
  statefulIsAuthorized,
} from '@cedar-policy/cedar-wasm/nodejs';

/** One authorization request; build it (entities included) before any timed region. */
export interface CedarAuthzRequest {
  readonly principal: EntityUidJson;
  readonly action: EntityUidJson;
  readonly resource: EntityUidJson;
  readonly context: Record<string, boolean | number | string | Record<string, boolean | number | string>>;
  readonly entities: EntityJson[];
}

export interface CedarResult {
  readonly decision: 'allow' | 'deny';
  /** Cedar's determining policies (`policy0`, `policy1`, … in text order): the permits on allow, the forbids on deny. */
  readonly reasons: readonly string[];
}

// Node 20 (V8 11.3) aborts the whole process ("Fatal error … unreachable code" in
// Deoptimizer::DoComputeBuiltinContinuation) when a TurboFan function that inlined a JS→Wasm call is
// lazily deoptimized while that Wasm call runs; the wasm-bindgen glue of cedar-wasm triggers it after a
// few thousand calls against a second policy set. Turning the inlining off avoids it (and costs nothing
// measurable next to the Wasm call itself). It must be set before the glue is optimized, hence here.
setFlagsFromString('--no-turbo-inline-js-wasm-calls');

let nextId = 0;

function describe(errors: readonly DetailedError[]): string {
  return errors.map((e) => `  - ${e.message}${e.help ? ` (help: ${e.help})` : ''}`).join('\n');
}

export class CedarAuthorizer {
  /** The id the policy set is cached under in cedar-wasm's thread-local store. */
  readonly policySetId: string;

  /** Preparses the policy set; throws an Error with Cedar's messages when it does not parse. */
  constructor(policyText: string, policySetId = `warden-${process.pid}-${nextId++}`) {
    const answer = preparsePolicySet(policySetId, { staticPolicies: policyText });
    if (answer.type !== 'success') {
      throw new Error(
        `Cedar rejected the policy set (${answer.errors.length} error(s)):\n${describe(answer.errors)}`,
      );
    }
    this.policySetId = policySetId;
  }

  static version(): string {
    return getCedarVersion();
  }

  /** The raw Cedar answer; no checking. The benchmark times this. */
  raw(req: CedarAuthzRequest): AuthorizationAnswer {
    return statefulIsAuthorized({
      principal: req.principal,
      action: req.action,
      resource: req.resource,
      context: req.context,
      entities: req.entities,
      preparsedPolicySetId: this.policySetId,
    });
  }

  /** Authorizes; throws on a failure answer or when any policy failed to evaluate. */
  authorizeDetailed(req: CedarAuthzRequest): CedarResult {
    const answer = this.raw(req);
    if (answer.type !== 'success') {
      throw new Error(`Cedar authorization failed:\n${describe(answer.errors)}`);
    }
    const { decision, diagnostics } = answer.response;
    if (diagnostics.errors.length > 0) {
      const list = diagnostics.errors.map((e) => `  - ${e.policyId}: ${e.error.message}`).join('\n');
      throw new Error(
        `Cedar could not evaluate ${diagnostics.errors.length} policy(ies) (they were skipped):\n${list}`,
      );
    }
    return { decision, reasons: diagnostics.reason };
  }

  /** Authorizes; 'allow' or 'deny'. Throws like authorizeDetailed. */
  authorize(req: CedarAuthzRequest): 'allow' | 'deny' {
    return this.authorizeDetailed(req).decision;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Many requests on several threads (Cedar costs ~1 ms per request on a few hundred policies)

/** A worker (plain CommonJS, run with `eval`) that authorizes a batch of requests against one policy set. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
require('node:v8').setFlagsFromString('--no-turbo-inline-js-wasm-calls');
const cedar = require(workerData.modulePath);
const pre = cedar.preparsePolicySet('batch', { staticPolicies: workerData.policyText });
if (pre.type !== 'success') throw new Error('Cedar rejected the policy set: ' + pre.errors.map((e) => e.message).join('; '));
const out = workerData.requests.map((r) => {
  const a = cedar.statefulIsAuthorized({ ...r, preparsedPolicySetId: 'batch' });
  if (a.type !== 'success') return { error: 'Cedar authorization failed: ' + a.errors.map((e) => e.message).join('; ') };
  const errs = a.response.diagnostics.errors;
  if (errs.length > 0) return { error: 'Cedar could not evaluate: ' + errs.map((e) => e.policyId + ': ' + e.error.message).join('; ') };
  return { decision: a.response.decision, reasons: a.response.diagnostics.reason };
});
parentPort.postMessage(out);
`;

type WorkerAnswer = CedarResult | { readonly error: string };

/**
 * Authorizes every request against the policy set, split over `threads` worker threads (each preparses
 * the set once). Same checks as CedarAuthorizer.authorizeDetailed: rejects on any failure or policy error.
 */
export async function authorizeAll(
  policyText: string,
  requests: readonly CedarAuthzRequest[],
  threads = Math.max(1, Math.min(4, availableParallelism())),
): Promise<CedarResult[]> {
  const modulePath = createRequire(import.meta.url).resolve('@cedar-policy/cedar-wasm/nodejs');
  const size = Math.ceil(requests.length / threads) || 1;
  const chunks: CedarAuthzRequest[][] = [];
  for (let i = 0; i < requests.length; i += size) chunks.push(requests.slice(i, i + size));
  const parts = await Promise.all(
    chunks.map(
      (chunk) =>
        new Promise<WorkerAnswer[]>((resolve, reject) => {
          const worker = new Worker(WORKER_SOURCE, {
            eval: true,
            workerData: { modulePath, policyText, requests: chunk },
          });
          worker.once('message', (answers: WorkerAnswer[]) => {
            resolve(answers);
            void worker.terminate();
          });
          worker.once('error', reject);
          worker.once('exit', (code) => {
            if (code !== 0) reject(new Error(`Cedar worker exited with code ${code}`));
          });
        }),
    ),
  );
  return parts.flat().map((a, i) => {
    if ('error' in a) throw new Error(`request ${i}: ${a.error}`);
    return a;
  });
}
