// node --import tsx clients/inspect/tests/stack.ts: a real Arbiter stack (test/support/stack.ts:
// Temporal dev server, both workers in-process, Docker, the API on 127.0.0.1) for running the
// Inspect provider by hand. Prints one JSON line, {url, et, operator, storageDir}, with an ET of
// plan `pro` for tenant `acme` and an operator token (both valid 10 minutes), and stops the stack
// (cancelling what was spawned) when stdin closes. The Temporal dev server writes its banner to
// the same stdout: the JSON is the line that starts with `{`.
import { startStack } from '../../../test/support/stack.ts';

const stack = await startStack();
let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  await stack.stop();
  process.exit(code);
};
process.on('SIGINT', () => void stop(130));
process.on('SIGTERM', () => void stop(143));
console.log(JSON.stringify({
  url: stack.base,
  et: await stack.et('agent', 'acme', 'pro'),
  operator: await stack.operator('inspect-host'),
  storageDir: stack.t.config.storageDir,
}));
process.stdin.resume();
process.stdin.on('end', () => void stop(0));
