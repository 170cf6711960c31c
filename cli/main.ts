// The `arbiter` command. Every verb prints a human line by default and JSON with --json.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { Command, Option } from 'commander';
import { verifyChainText, type ChainCheck } from '../lib/audit-chain.ts';
import { loadConfig } from '../infra/config.ts';
import { ConfigError } from '../lib/errors.ts';
import { publicJwks } from '../infra/keys.ts';
import { openKeyStore, publishKeys } from '../infra/signer.ts';
import { unsignedAuditWarning, verifyResults } from '../infra/results.ts';
import { KeySourceError, resolveVerifyKeys } from '../infra/verify-keys.ts';
import { mintToken } from '../infra/tokens.ts';
import { DEFAULT_TEMPLATES_DIR, UnknownTemplateError } from '../infra/template.ts';
import { publishTemplate, TemplateModifiedError } from '../infra/template-publication.ts';
import { SCENARIO_ID_PATTERN, TERMINAL_STATUSES, type ScenarioState } from '../contract/scenario.ts';
import { api, ApiError } from './http.ts';
import { ChainedLogFile, type AnchoredCheck } from '../infra/chained-log.ts';
import { basename } from 'node:path';
import { userInfo } from 'node:os';
import type { Client } from '@temporalio/client';
import { AnchorError } from '../lib/audit-anchor.ts';
import type { AnchoredLog } from '../contract/audit-anchor.ts';
import type { Config } from '../infra/config.ts';
import { downloadTree, openArtifactStore } from '../infra/artifact-store.ts';
import { resultsKey } from '../infra/results.ts';
import { tombstoneKey } from '../infra/retention-storage.ts';
import { JWKS_KEY } from '../infra/keys.ts';

const program = new Command('arbiter').description('Arbiter: policy-gated, hardened scenarios with signed verdicts');
program.addOption(new Option('--api <url>', 'API base URL').env('ARBITER_API_URL').default('http://127.0.0.1:8080'));
program.option('--json', 'print JSON for scripts');

const json = () => Boolean(program.opts<{ json?: boolean }>().json);
const apiUrl = () => program.opts<{ api: string }>().api;
function out(human: string, data: unknown) {
  console.log(json() ? JSON.stringify(data) : human);
}

const devToken = program.command('dev-token').description('mint dev tokens from the env secrets (ARBITER_MODE=dev only)');
devToken.command('et').requiredOption('--sub <subject>').requiredOption('--tenant <tenant>').requiredOption('--plan <plan>')
  .option('--ttl <seconds>', 'lifetime', '3600')
  .action(async (o: { sub: string; tenant: string; plan: string; ttl: string }) => {
    const config = devConfig('ET_HMAC_SECRET');
    const { token, expiresAt } = await mintToken('et', { sub: o.sub, tenant: o.tenant, plan: o.plan }, config.secrets.ET_HMAC_SECRET!, { ttlSeconds: Number(o.ttl) });
    out(token, { token, expiresAt });
  });
devToken.command('operator').requiredOption('--sub <subject>').option('--ttl <seconds>', 'lifetime', '3600')
  .action(async (o: { sub: string; ttl: string }) => {
    const config = devConfig('OPERATOR_HMAC_SECRET');
    const { token, expiresAt } = await mintToken('operator', { sub: o.sub, role: 'operator' }, config.secrets.OPERATOR_HMAC_SECRET!, { ttlSeconds: Number(o.ttl) });
    out(token, { token, expiresAt });
  });

devToken.command('receipt').description('a billing receipt granting a tenant a plan (what billing would sign)')
  .requiredOption('--tenant <tenant>').requiredOption('--plan <plan>').option('--id <receiptId>', 'receipt id', `rcpt-${Date.now()}`)
  .option('--ttl <seconds>', 'lifetime', '86400')
  .action(async (o: { tenant: string; plan: string; id: string; ttl: string }) => {
    const config = devConfig('BILLING_HMAC_SECRET');
    const { token, expiresAt } = await mintToken('receipt', { sub: o.id, tenant: o.tenant, plan: o.plan }, config.secrets.BILLING_HMAC_SECRET!, { ttlSeconds: Number(o.ttl), jti: o.id });
    out(token, { token, expiresAt });
  });

program.command('billing').command('verify').description('verify the hash-chained billing log against its recorded head and its anchor in Temporal')
  .option('--log <file>', 'billing log (default: <storage>/billing/receipts.jsonl)')
  .option('--no-anchor', 'check the file and its .head only, not the anchor in Temporal')
  .option('--strict', 'also fail when entries after the anchored head are not anchored yet')
  .action(async (o: { log?: string; anchor: boolean; strict?: boolean }) => {
    const file = o.log ? resolve(o.log) : (await import('../infra/billing-log.ts')).billingLogPath(loadConfig(process.env).storageDir);
    const r = o.anchor ? await verifyAnchored(file, 'billing') : new ChainedLogFile(file).verify();
    if (!r.ok) {
      out(`billing log BROKEN at entry ${r.brokenAt}: ${r.reason}`, r);
      process.exitCode = 1;
      return;
    }
    const warnings = anchorWarnings(r);
    if (o.strict && warnings.length) process.exitCode = 1;
    out(`billing log intact: ${r.length} receipts, head ${r.length ? r.head : '(empty)'}${anchorLine(r)}${warnings.map((w) => `\n  warning: ${w}`).join('')}`, { ...r, warnings });
  });

program.command('spawn').description('ask for a SAT with an entitlement token, then spawn')
  .requiredOption('--template <id>', 'template id, optionally @version').requiredOption('--track <track>')
  .addOption(new Option('--et <token>', 'entitlement token').env('ARBITER_ET').makeOptionMandatory())
  .option('--wait', 'wait until the scenario ends, showing its status')
  .action(async (o: { template: string; track: string; et: string; wait?: boolean }) => {
    const sat = await api<{ sat: string; expiresAt: string; plan: string }>(apiUrl(), 'POST', '/api/sat', { token: o.et, body: { template: o.template, track: o.track } });
    const spawned = await api<{ scenarioId: string; status: string }>(apiUrl(), 'POST', '/api/spawn', { token: sat.sat, body: {} });
    if (!o.wait) return out(`${spawned.scenarioId} ${spawned.status}`, { ...spawned, sat: sat.sat });
    const final = await waitForEnd(spawned.scenarioId, sat.sat);
    out(`${final.scenarioId} ${final.status}${final.score ? ` score ${final.score.score}/${final.score.maxScore}` : ''}`, final);
  });

program.command('status <id>').description('show a scenario')
  .addOption(new Option('--token <token>', 'SAT, ET or operator token').env('ARBITER_TOKEN').makeOptionMandatory())
  .action(async (id: string, o: { token: string }) => {
    const s = await api<ScenarioState>(apiUrl(), 'GET', `/api/scenarios/${id}`, { token: o.token });
    out(`${s.scenarioId} ${s.status} ${s.template}@${s.templateVersion} ${s.tenant}/${s.subject}${s.reason ? ` (${s.reason})` : ''}`, s);
  });

program.command('complete <id>').description('complete a running scenario as its host (completion token) or an operator')
  .addOption(new Option('--token <token>', 'completion or operator token').env('ARBITER_TOKEN').makeOptionMandatory())
  .option('--outcome <outcome>', 'success | failure | gave_up', 'success')
  .option('--submission <json>', 'the submission, a JSON object', '{}')
  .action(async (id: string, o: { token: string; outcome: string; submission: string }) => {
    let submission: unknown;
    try {
      submission = JSON.parse(o.submission);
    } catch {
      throw new UsageError('--submission must be a JSON object');
    }
    const r = await api<{ status: string }>(apiUrl(), 'POST', `/api/scenarios/${id}/complete`, { token: o.token, body: { outcome: o.outcome, submission } });
    out(`${id} completion accepted (${r.status})`, r);
  });

program.command('completion-token <id>').description('get the completion token of a running scenario, for its host (operator token; audited)')
  .addOption(new Option('--token <token>', 'operator token').env('ARBITER_TOKEN').makeOptionMandatory())
  .action(async (id: string, o: { token: string }) => {
    const r = await api<{ token: string; expiresAt: string }>(apiUrl(), 'POST', `/api/scenarios/${id}/completion-token`, { token: o.token });
    // The token alone on stdout, so that TOKEN=$(arbiter completion-token …) works.
    out(r.token, r);
  });

program.command('cancel <id>').description('cancel a scenario')
  .addOption(new Option('--token <token>', 'SAT, ET or operator token').env('ARBITER_TOKEN').makeOptionMandatory())
  .action(async (id: string, o: { token: string }) => {
    const r = await api<{ status: string }>(apiUrl(), 'POST', `/api/scenarios/${id}/cancel`, { token: o.token });
    out(`${id} cancel requested (was ${r.status})`, r);
  });

program.command('verify <resultsDir...>').description('verify verdicts offline: signature, score, evidence, audit chain, transcript (one or many results folders)')
  .option('--keys <path>', 'JWKS file (or folder holding jwks.json) obtained outside the folders checked; required unless ARBITER_KEYS_DIR names the deployment\'s key store')
  .option('--strict', 'fail a folder whose audit log has entries after the signed head (no signature covers them)')
  .action(async (dirs: string[], o: { keys?: string; strict?: boolean }) => {
    const keys = await resolveVerifyKeys(o.keys, process.env);
    const keySource = { path: keys.path, origin: keys.origin };
    // Every run says where its trust anchor came from: first line, or a field of each JSON object.
    if (!json()) console.log(`keys: ${keys.path} (${keys.origin === '--keys' ? 'from --keys' : "the deployment's key store, ARBITER_KEYS_DIR"})`);
    const started = performance.now();
    let failed = 0;
    let done = 0;
    // A signal is handled between two folders (the loop yields to the event loop after each):
    // stop there and say so.
    const stop = (signal: NodeJS.Signals) => {
      console.error(`arbiter: verify interrupted by ${signal} after ${done} of ${dirs.length} folder(s)`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.once('SIGINT', stop).once('SIGTERM', stop);
    // One line per folder as it is checked: over thousands of folders that is the progress.
    for (const dir of dirs) {
      const results = resolve(dir);
      const check = await verifyResults(results, keys.jwks);
      done++;
      // File reads are synchronous (lib/untrusted-files.ts): let a pending SIGINT/SIGTERM run.
      await new Promise<void>((r) => setImmediate(r));
      const warnings = check.ok && check.unsignedAuditEntries.length ? [unsignedAuditWarning(check.unsignedAuditEntries)] : [];
      if (!check.ok || (o.strict && warnings.length)) {
        failed++;
        const problems = check.ok ? warnings.map((w) => `${w} (--strict)`) : check.problems;
        out(`verification FAILED for ${results}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, { ok: false, dir: results, keys: keySource, problems });
        continue;
      }
      const p = check.statement.predicate;
      const transcript = check.transcript ? `\n  transcript: ${check.transcript.entries} entr${check.transcript.entries === 1 ? 'y' : 'ies'}, chain and recordings hold` : '';
      out(`verified: ${p.scenarioId} ${p.status} score ${p.score.score}/${p.score.maxScore} signed by ${check.keyId}${transcript}${warnings.map((w) => `\n  warning: ${w}`).join('')}`,
        { ok: true, dir: results, keys: keySource, keyId: check.keyId, predicate: p, warnings, ...(check.transcript ? { transcript: check.transcript } : {}) });
    }
    process.off('SIGINT', stop).off('SIGTERM', stop);
    if (failed) process.exitCode = 1;
    if (dirs.length > 1) {
      const seconds = (performance.now() - started) / 1000;
      const verified = dirs.length - failed;
      out(`${verified} verified, ${failed} failed, in ${seconds.toFixed(2)} s (${Math.round(dirs.length / seconds).toLocaleString('en-US')} folders/s)`, { verified, failed, seconds });
    }
  });

program.command('audit').command('verify <file>').description('verify a hash-chained audit log (a shared one against its anchor in Temporal too)')
  .option('--head <hash>', 'the head a verdict recorded')
  .option('--anchor <log>', 'the anchor to check against: operator or billing (default: by the file name, operator.jsonl or receipts.jsonl)')
  .option('--no-anchor', 'check the file and its .head only, not the anchor in Temporal')
  .option('--strict', 'also fail when entries after the anchored head are not anchored yet')
  .action(async (file: string, o: { head?: string; anchor?: string | false; strict?: boolean }) => {
    const anchored = o.head || o.anchor === false ? undefined : await anchoredLogOf(file, o.anchor);
    // A shared log (the operator audit log) records its head beside it: then truncation shows too;
    // its anchor in Temporal catches the log and its .head truncated or rewritten together.
    const r: ChainCheck | AnchoredCheck = anchored
      ? await verifyAnchored(resolve(file), anchored)
      : !o.head && existsSync(`${file}.head`) ? new ChainedLogFile(resolve(file)).verify() : verifyChainText(readFileSync(file, 'utf8'), o.head);
    if (!r.ok) {
      out(`audit chain BROKEN at entry ${r.brokenAt}: ${r.reason}`, r);
      process.exitCode = 1;
      return;
    }
    const warnings = anchorWarnings(r);
    if (o.strict && warnings.length) process.exitCode = 1;
    const after = r.afterHead?.length ? `; ${r.afterHead.length} entr${r.afterHead.length === 1 ? 'y' : 'ies'} after --head ${o.head}, not covered by the verdict's signature` : '';
    out(`audit chain intact: ${r.length} entries, head ${r.head}${after}${anchorLine(r)}${warnings.map((w) => `\n  warning: ${w}${o.strict ? ' (--strict)' : ''}`).join('')}`, { ...r, warnings });
  });

/** Which anchor a shared log is checked against: as asked, else by its file name. */
async function anchoredLogOf(file: string, asked: string | undefined): Promise<AnchoredLog | undefined> {
  if (asked !== undefined) {
    if (asked !== 'operator' && asked !== 'billing') throw new UsageError(`--anchor must be operator or billing, got "${asked}"`);
    return asked;
  }
  const [{ OPERATOR_AUDIT_FILE }, { billingLogPath }] = await Promise.all([import('../infra/operator-audit.ts'), import('../infra/billing-log.ts')]);
  const name = basename(file);
  return name === basename(OPERATOR_AUDIT_FILE) ? 'operator' : name === basename(billingLogPath('.')) ? 'billing' : undefined;
}

/** The log at `file` against its anchor in Temporal (the log's chain and .head first). */
async function verifyAnchored(file: string, log: AnchoredLog): Promise<AnchoredCheck> {
  try {
    return await withTemporal(`to read the anchor of ${file}`, async (client) => {
      const { LogAnchor } = await import('../infra/log-anchor.ts');
      return new ChainedLogFile(file, new LogAnchor(client, log)).verifyAnchored();
    });
  } catch (err) {
    if (err instanceof AnchorError) throw new AnchorError(`${err.message}\n  (--no-anchor checks the file and its .head only: it cannot tell a truncation of both)`, { cause: err });
    throw err;
  }
}

function anchorLine(r: ChainCheck | AnchoredCheck): string {
  if (!('anchor' in r) || !r.anchor) return '';
  const a = r.anchor;
  return a.status === 'absent' ? '' : `\n  anchored: ${a.length} entries, head ${a.length ? a.head : '(empty)'} in ${a.workflowId} (namespace ${a.namespace})`;
}

/** What an intact log still leaves open about its anchor: entries not anchored yet, a missing or closed anchor. */
function anchorWarnings(r: ChainCheck | AnchoredCheck): string[] {
  if (!('anchor' in r) || !r.anchor) return [];
  const a = r.anchor;
  const where = `${a.workflowId} (namespace ${a.namespace})`;
  const warnings: string[] = [];
  if (a.status === 'absent') {
    if (a.unanchored) warnings.push(`not anchored: there is no ${where}; the next append by the API, a worker or the CLI anchors the log as it is then`);
    return warnings;
  }
  if (a.status === 'closed') warnings.push(`the anchor's last run ended ${a.closedAs ?? 'closed'} (not by continue-as-new); the next append starts a new run from its head`);
  if (a.unanchored) warnings.push(`${a.unanchored} entr${a.unanchored === 1 ? 'y' : 'ies'} after the anchored head not anchored yet (an append whose anchor update did not complete: a crash, or Temporal or the main worker out of reach); the next append anchors ${a.unanchored === 1 ? 'it' : 'them'}`);
  return warnings;
}

/** A Temporal client for this command only, closed after `fn`. */
async function withTemporal<T>(why: string, fn: (client: Client) => Promise<T>, config: Config = loadConfig(process.env)): Promise<T> {
  const client = await temporalClient(config, why);
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

async function temporalClient(config: Config, why: string): Promise<Client> {
  // Loaded here only: the verbs that talk to the API start without the gRPC client.
  const { Client: TemporalClient, Connection } = await import('@temporalio/client');
  try {
    const connection = await Connection.connect({ address: config.temporalAddress, connectTimeout: '5 seconds' });
    return new TemporalClient({ connection, namespace: config.temporalNamespace });
  } catch (err) {
    throw new AnchorError(`cannot reach Temporal at ${config.temporalAddress} (TEMPORAL_ADDRESS) ${why}: ${(err as Error).message}`, { cause: err });
  }
}

const retention = program.command('retention').description('artifact retention (operator token)');
const operatorToken = () => new Option('--token <token>', 'operator token').env('ARBITER_TOKEN').makeOptionMandatory();
retention.command('sweep').description('delete the artifacts whose retention is over; held ones stay')
  .option('--dry-run', 'change nothing: list what would be deleted')
  .addOption(operatorToken())
  .action(async (o: { dryRun?: boolean; token: string }) => {
    const r = await api<{ dryRun: boolean; deleted: string[]; held: string[]; kept: string[] }>(apiUrl(), 'POST', '/api/retention/sweep', { token: o.token, body: { dryRun: Boolean(o.dryRun) } });
    const verb = r.dryRun ? 'would delete' : 'deleted';
    const rows = [...r.deleted.map((id) => `  ${verb.padEnd(12)} ${id}`), ...r.held.map((id) => `  ${'held'.padEnd(12)} ${id}`)];
    out([`retention sweep${r.dryRun ? ' (dry run, nothing changed)' : ''}: ${r.deleted.length} ${verb}, ${r.held.length} held, ${r.kept.length} kept`, ...rows].join('\n'), r);
  });
for (const verb of ['hold', 'release'] as const) {
  retention.command(`${verb} <id>`).description(verb === 'hold' ? "keep a scenario's artifacts past their retention until released" : 'release a hold; artifacts past their retention go at once')
    .option('--reason <text>', 'why, for the audit log')
    .addOption(operatorToken())
    .action(async (id: string, o: { reason?: string; token: string }) => {
      await api(apiUrl(), verb === 'hold' ? 'POST' : 'DELETE', `/api/scenarios/${id}/hold`, { token: o.token, body: o.reason ? { reason: o.reason } : {} });
      out(`${id} ${verb === 'hold' ? 'held' : 'released'}`, { scenarioId: id, [verb === 'hold' ? 'held' : 'released']: true });
    });
}

program.command('results').command('download <scenarioId> <dir>')
  .description("copy a scenario's results folder out of the artifact store (ARBITER_ARTIFACT_STORE and its settings), for `arbiter verify <dir>`")
  .option('--jwks <file>', "also save the store's published public keys (a copy from the same place as the results: prefer keys obtained elsewhere)")
  .action(async (id: string, dir: string, o: { jwks?: string }) => {
    if (!new RegExp(SCENARIO_ID_PATTERN).test(id)) throw new UsageError(`"${id}" is not a scenario id (scn-…)`);
    const target = resolve(dir);
    // Into an empty folder only: leftovers of another scenario would make the folder fail verification.
    if (existsSync(target) && readdirSync(target).length > 0) throw new UsageError(`${target} is not empty: download into a new or empty folder`);
    const store = openArtifactStore(loadConfig(process.env));
    let files: number;
    try {
      files = await downloadTree(store, resultsKey(id), target);
    } catch (err) {
      // Unreachable server, wrong credentials, missing bucket: one line, not a stack trace.
      throw new UsageError(`cannot read ${store.description}: ${(err as Error).name}: ${(err as Error).message}`);
    }
    if (files === 0) {
      process.exitCode = 1;
      return out(`no results of ${id} in ${store.description} (never scored, or deleted by retention)`, { ok: false, scenarioId: id, store: store.description, files });
    }
    const tombstone = await store.get(tombstoneKey(id));
    if (tombstone) {
      // What retention leaves is the audit log: it says what happened, but it is not a verdict.
      process.exitCode = 1;
      const { deletedAt } = JSON.parse(tombstone.toString('utf8')) as { deletedAt?: string };
      return out(`${id}'s artifacts were deleted by retention at ${deletedAt ?? '?'}: only its audit log is left (${files} file(s) in ${target})`, { ok: false, scenarioId: id, store: store.description, dir: target, files, deletedAt });
    }
    if (o.jwks) {
      const jwks = await store.get(JWKS_KEY);
      if (!jwks) throw new UsageError(`${store.description} holds no ${JWKS_KEY}: get the keys from the API (/.well-known/arbiter/keys) instead`);
      writeFileSync(resolve(o.jwks), jwks);
    }
    out(`→ ${files} file(s) of ${id} from ${store.description} in ${target}; check them with: arbiter verify ${dir}`, { ok: true, scenarioId: id, store: store.description, dir: target, files });
  });

const keys = program.command('keys').description('verdict signing keys (in the keys directory, or the PKCS#11 token ARBITER_SIGNER=pkcs11 names)');
for (const verb of ['generate', 'rotate'] as const) {
  keys.command(verb).description(verb === 'generate' ? 'create a signing key if none exists' : 'make a new current key; old keys keep verifying')
    .action(async () => {
      const config = loadConfig(process.env);
      const store = await openKeyStore(config);
      // The operator audit log records the new key, anchored in Temporal: a rotation needs Temporal
      // and checks it answers before changing anything. The first key is made by the bootstrap
      // (before any Temporal server runs) or by deploy/'s setup (before the main worker runs the
      // anchor): then its entry is written unanchored, and the next append (by the API, a worker or
      // the CLI) anchors it.
      let temporal: Client | undefined;
      let note = '';
      try {
        if (verb === 'generate' && await store.hasKey()) {
          const jwks = await publishKeys(store, config, openArtifactStore(config));
          return out(`✓ signing key present in the ${store.description} (${jwks.keys.length} public key(s) in ${config.storageDir}/keys/jwks.json)`, jwks);
        }
        try {
          temporal = await temporalClient(config, 'to anchor the operator audit log');
        } catch (err) {
          if (verb === 'rotate') throw err;
          note = `\n  note: the operator audit log entry is not anchored yet (${(err as Error).message}); the next append anchors it`;
        }
        const jwk = await store.generate();
        await publishKeys(store, config, openArtifactStore(config));
        const { recordOperatorAction } = await import('../infra/operator-audit.ts');
        try {
          await recordOperatorAction({ storageDir: config.storageDir, temporal }, { actor: cliActor(), action: verb === 'rotate' ? 'keys.rotated' : 'keys.generated', data: { kid: jwk.kid, signer: config.signer.kind } });
        } catch (err) {
          // A first key is made during setup, maybe before the main worker runs the anchor: the
          // key stands, the entry waits for the next append to be anchored.
          if (verb === 'rotate' || !(err instanceof AnchorError)) throw err;
          note = `\n  note: ${err.message}`;
        }
        out(`→ new signing key ${jwk.kid} in the ${store.description} (public keys in ${config.storageDir}/keys/jwks.json)${note}`, jwk);
      } finally {
        await store.close();
        await temporal?.connection.close();
      }
    });
}
keys.command('list').description('every public key of the deployment\'s key store, current and retired')
  .action(async () => {
    const jwks = await publicJwks(loadConfig(process.env).keysDir);
    out(jwks.keys.map((k) => k.kid).join('\n'), jwks);
  });

const templatesOption = () => new Option('--templates <dir>', 'templates folder').default(DEFAULT_TEMPLATES_DIR);

program.command('images').command('build').description('build every template image locally (refuses a published template whose files changed)')
  .addOption(templatesOption())
  .action(async (o: { templates: string }) => {
    const config = loadConfig(process.env);
    // Loaded here only: every other verb starts faster without dockerode and the image builder.
    const [{ default: Docker }, { buildTemplateImages }] = await Promise.all([import('dockerode'), import('../infra/images.ts')]);
    const built = await buildTemplateImages(new Docker({ socketPath: config.dockerSocket }), { templatesDir: resolve(o.templates), log: (l) => { if (!json()) console.log(`  ${l}`); } });
    const fresh = built.filter((b) => b.built).length;
    out(`${fresh > 0 ? '→' : '✓'} template images: ${fresh} built, ${built.length - fresh} up to date`, built);
  });

program.command('templates').command('publish <ref>').description('freeze a template version (id@version): record its content digest in published.json')
  .addOption(templatesOption())
  .action((ref: string, o: { templates: string }) => {
    const m = /^([a-z][a-z0-9-]{0,62})@([0-9]+)$/.exec(ref);
    if (!m) throw new UsageError(`"${ref}" is not a template version: use id@version, e.g. hello@1`);
    let r: ReturnType<typeof publishTemplate>;
    try {
      r = publishTemplate({ id: m[1]!, version: m[2]! }, resolve(o.templates));
    } catch (err) {
      if (err instanceof UnknownTemplateError) throw new UsageError(`no template ${ref} in ${resolve(o.templates)}`);
      throw err;
    }
    out(`${r.alreadyPublished ? '✓' : '→'} ${ref} ${r.alreadyPublished ? 'already published' : 'published'} (sha256 ${r.digest})`, { ref, ...r });
  });

async function waitForEnd(id: string, token: string): Promise<ScenarioState> {
  let last = '';
  const tty = process.stderr.isTTY;
  for (;;) {
    const s = await api<ScenarioState>(apiUrl(), 'GET', `/api/scenarios/${id}`, { token });
    const line = `${id}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`;
    if (line !== last && !json()) process.stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
    last = line;
    if (TERMINAL_STATUSES.includes(s.status)) {
      if (tty && !json()) process.stderr.write('\n');
      return s;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

class UsageError extends Error {}

/** Who ran this command, for the operator audit log. */
function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return `cli:uid-${process.getuid?.() ?? '?'}`;
  }
}

function devConfig(secret: 'ET_HMAC_SECRET' | 'OPERATOR_HMAC_SECRET' | 'BILLING_HMAC_SECRET') {
  const config = loadConfig(process.env, [secret]);
  if (config.mode !== 'dev') throw new UsageError('dev-token needs ARBITER_MODE=dev: production tokens come from billing and your identity provider');
  return config;
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof AnchorError) {
    // The anchor could not be read or moved: like an unreachable API, not the caller's doing.
    console.error(`arbiter: ${err.message}`);
    process.exitCode = 3;
  } else if (err instanceof ApiError || err instanceof UsageError || err instanceof ConfigError || err instanceof TemplateModifiedError || err instanceof KeySourceError) {
    console.error(`arbiter: ${err.message}${err instanceof ApiError && err.reasons?.length ? `\n  reasons: ${err.reasons.join('; ')}` : ''}`);
    process.exitCode = err instanceof ApiError && err.status >= 500 ? 3 : 1;
  } else if ((err as NodeJS.ErrnoException).cause && (err as Error).message === 'fetch failed') {
    console.error(`arbiter: cannot reach the API at ${apiUrl()}: is the stack up? (npm run stack)`);
    process.exitCode = 3;
  } else {
    throw err;
  }
}
