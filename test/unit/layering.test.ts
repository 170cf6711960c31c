// The layering rules of eslint.config.js (README "Layout") run against a probe file placed in each
// folder: a wrong-way import must fail lint, so a rule that stops matching (a renamed folder, a
// glob that no longer fits) is caught here instead of letting the layers blur unnoticed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Probe { folder: string; source: string; forbidden: boolean; why: string }

const PROBES: Probe[] = [
  { folder: 'contract', source: "import '../infra/config.ts';", forbidden: true, why: 'contract/ importing infra/' },
  { folder: 'contract', source: "import 'node:fs';", forbidden: true, why: 'contract/ importing a Node built-in' },
  { folder: 'lib', source: "import '../infra/config.ts';", forbidden: true, why: 'lib/ importing infra/' },
  { folder: 'lib', source: "import 'node:crypto';", forbidden: true, why: 'lib/ importing a Node built-in' },
  { folder: 'lib', source: "import type { MainActivities } from '../activities/index.ts';\nexport type T = MainActivities;", forbidden: true, why: 'lib/ importing even a type from activities/' },
  { folder: 'workflows', source: "import '../infra/config.ts';", forbidden: true, why: 'workflows/ importing infra/ at runtime' },
  { folder: 'workflows', source: "import 'node:path';", forbidden: true, why: 'workflows/ importing a Node built-in' },
  { folder: 'workflows', source: "import '@temporalio/client';", forbidden: true, why: 'workflows/ importing the Temporal client' },
  { folder: 'workflows', source: "import type { MainActivities } from '../activities/index.ts';\nexport type T = MainActivities;", forbidden: false, why: 'workflows/ typing proxyActivities by activities/' },
  { folder: 'infra', source: "import '../activities/index.ts';", forbidden: true, why: 'infra/ importing activities/' },
  { folder: 'activities', source: "import '../workflows/index.ts';", forbidden: true, why: 'activities/ importing workflows/ at runtime' },
  { folder: 'api', source: "import '../activities/index.ts';", forbidden: true, why: 'api/ importing activities/' },
  { folder: 'api', source: "import '../workflows/scenario.ts';", forbidden: true, why: 'api/ importing workflows/ at runtime' },
  { folder: 'api/routes', source: "import '../../workers/workers.ts';", forbidden: true, why: 'a nested api/ folder importing workers/' },
  { folder: 'api', source: "import type { scenarioWorkflow } from '../workflows/scenario.ts';\nexport type T = typeof scenarioWorkflow;", forbidden: false, why: 'api/ typing a workflow start' },
  { folder: 'cli', source: "import '../activities/index.ts';", forbidden: true, why: 'cli/ importing activities/' },
  { folder: 'workers', source: "import '../api/app.ts';", forbidden: true, why: 'workers/ importing api/' },
];

void describe('the layering rules fail lint on a wrong-way import', () => {
  void it('every folder rejects the layers it may not import, and accepts the type-only imports it may', async () => {
    const files = PROBES.map((p, i) => join(ROOT, p.folder, `layering-probe-${process.pid}-${i}.ts`));
    try {
      PROBES.forEach((p, i) => writeFileSync(files[i]!, `${p.source}\n`));
      const results = await new ESLint({ cwd: ROOT }).lintFiles(files);
      PROBES.forEach((p, i) => {
        const result = results.find((r) => r.filePath === files[i]);
        assert.ok(result, `${p.folder}: the probe was linted`);
        const restricted = result.messages.filter((m) => m.ruleId === 'no-restricted-imports');
        if (p.forbidden) assert.ok(restricted.length > 0, `${p.why} must fail lint; got ${JSON.stringify(result.messages.map((m) => m.message))}`);
        else assert.deepEqual(restricted, [], `${p.why} must pass lint`);
      });
    } finally {
      for (const f of files) rmSync(f, { force: true });
    }
  });
});
