// Prints the custom search attributes as `temporal server start-dev` flags, from the one list in
// workflows/shared.ts, so the dev server and a cluster's registration command never drift.
import { SEARCH_ATTRIBUTES } from '../workflows/shared.ts';

if (process.argv.includes('--flags')) {
  console.log(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => `--search-attribute ${name}=${type}`).join(' '));
} else {
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) console.log(`temporal operator search-attribute create --name ${name} --type ${type}`);
}
