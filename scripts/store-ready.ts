// Waits until the S3 store the environment selects answers, creating its bucket if it is missing:
// scripts/store.sh runs it after starting versitygw. Exit 0 when ready, 1 with the reason.
import { loadConfig } from '../infra/config.ts';
import { S3ArtifactStore } from '../infra/artifact-store.ts';

const config = loadConfig(process.env);
if (config.artifactStore.kind !== 's3') {
  console.error('store-ready: ARBITER_ARTIFACT_STORE is not "s3"');
  process.exit(1);
}
const store = new S3ArtifactStore(config.artifactStore);
try {
  await store.ensureBucket(Number(process.env.STORE_READY_TIMEOUT_MS ?? 60_000));
  console.log(`${store.description} is ready`);
} catch (err) {
  console.error(`store-ready: ${(err as Error).message}`);
  process.exit(1);
}
