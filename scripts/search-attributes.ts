// Arbiter's custom search attributes, from the one list in contract/queues.ts, so the dev
// server, a cluster and the workflows never drift:
//   node --import tsx scripts/search-attributes.ts             the `temporal operator` commands for a cluster
//   node --import tsx scripts/search-attributes.ts --flags     `temporal server start-dev` flags
//   node --import tsx scripts/search-attributes.ts --register  registers the missing ones on
//        TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (idempotent; what deploy/'s setup job runs)
import { Connection } from '@temporalio/client';
import { loadConfig } from '../infra/config.ts';
import { registerSearchAttributes } from '../infra/search-attributes.ts';
import { SEARCH_ATTRIBUTES } from '../contract/queues.ts';

if (process.argv.includes('--flags')) {
  console.log(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => `--search-attribute ${name}=${type}`).join(' '));
} else if (process.argv.includes('--register')) {
  const { temporalAddress: address, temporalNamespace: namespace } = loadConfig(process.env);
  const connection = await Connection.connect({ address });
  try {
    const added = await registerSearchAttributes(connection, namespace, SEARCH_ATTRIBUTES);
    console.log(added.length ? `→ registered ${added.join(', ')} on ${address} (${namespace})` : `✓ search attributes already registered on ${address} (${namespace})`);
  } finally {
    await connection.close();
  }
} else {
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    console.log(`temporal operator search-attribute create --namespace "\${TEMPORAL_NAMESPACE:-default}" --name ${name} --type ${type}`);
  }
}
