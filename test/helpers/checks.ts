/**
 * Checks shared by the tests that judge what the server sent (the fuzz
 * suites) and a way to measure live memory (RSS after a full GC).
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { WIRE_ERRORS, type Envelope } from '../../src/index.js';

/**
 * Problems with one outbound envelope (PROTOCOL.md §3): not an object, no
 * string `type`, or an `error` whose code is not a wire code, whose `fatal`
 * does not match the code's, or whose `message` / `ref` is mistyped.
 * @returns one line per problem; empty when the envelope is well-formed
 */
export function envelopeProblems(v: unknown): string[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return [`not an object: ${JSON.stringify(v)}`];
  const env = v as Envelope;
  if (typeof env.type !== 'string') return [`no string type: ${JSON.stringify(v)}`];
  if (env.type !== 'error') return [];
  const code = env.code as keyof typeof WIRE_ERRORS;
  if (typeof code !== 'string' || !(code in WIRE_ERRORS)) return [`unknown error code ${String(code)}`];
  const problems: string[] = [];
  if (env.fatal !== WIRE_ERRORS[code]) problems.push(`${code} with fatal ${String(env.fatal)}`);
  if (typeof env.message !== 'string') problems.push(`${code} without a message`);
  if (env.ref !== undefined && typeof env.ref !== 'string') problems.push(`${code} with a non-string ref`);
  return problems;
}

/**
 * A full GC, so that RSS shows what is live rather than how far behind the
 * collector is (tests that stream or fuzz make hundreds of MiB of
 * short-lived garbage in the test process, clients' and server's together).
 * A no-op where `--expose-gc` cannot be set at run time.
 */
export const fullGc: () => void = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return () => {};
  }
})();
