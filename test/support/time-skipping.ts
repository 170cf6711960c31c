// The time-skipping test environment with Arbiter's real workflow bundle (interceptors included),
// its custom search attributes registered, an isolated config, and both workers running until
// `stop()`. Hours or days of workflow time pass in seconds.
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { registerSearchAttributes } from '../../infra/search-attributes.ts';
import { bundleWorkflows, createHostWorker, createMainWorker } from '../../workers/workers.ts';
import { SEARCH_ATTRIBUTES } from '../../contract/queues.ts';
import { testConfig, tools, type TestConfig } from './harness.ts';

let runtimeInstalled = false;

export interface TimeSkipping {
  env: TestWorkflowEnvironment;
  t: TestConfig;
  bundle: { code: string };
  /** Runs `body` with a main and a host worker over the given templates. */
  withWorkers<R>(templatesDir: string | undefined, body: () => Promise<R>): Promise<R>;
  /** Starts both workers in the background until `stop()`. */
  startWorkers(templatesDir?: string): Promise<void>;
  stop(): Promise<void>;
}

/** config: more configuration for both workers (e.g. the S3 artifact store's variables). */
export async function startTimeSkipping(config: Record<string, string> = {}): Promise<TimeSkipping> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: tools().TEMPORAL_TEST_SERVER_BIN } } });
  // The test server knows no custom search attributes, and the workflow keeps Arbiter's current.
  await registerSearchAttributes(env.connection, env.namespace ?? 'default', SEARCH_ATTRIBUTES);
  const bundle = await bundleWorkflows(new DefaultLogger('WARN'));
  const t = await testConfig(config);
  const workers = async (templatesDir: string | undefined): Promise<{ main: Worker; host: Awaited<ReturnType<typeof createHostWorker>> }> => ({
    main: (await createMainWorker({ config: t.config, connection: env.nativeConnection, client: env.client, workflowBundle: bundle, ...(templatesDir ? { templatesDir } : {}) })).worker,
    host: await createHostWorker({ config: t.config, connection: env.nativeConnection, client: env.client }),
  });
  let background: { stop: () => void; done: Promise<unknown> } | undefined;
  return {
    env, t, bundle,
    async withWorkers(templatesDir, body) {
      const { main, host } = await workers(templatesDir);
      return main.runUntil(host.runUntil(body));
    },
    async startWorkers(templatesDir) {
      const { main, host } = await workers(templatesDir);
      let stop: () => void = () => undefined;
      const signal = new Promise<void>((resolve) => { stop = resolve; });
      background = { stop, done: main.runUntil(host.runUntil(signal)) };
    },
    async stop() {
      background?.stop();
      await background?.done;
      await env.teardown();
      t.cleanup();
    },
  };
}
