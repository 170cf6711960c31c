// A SoftHSM2 token of one test's own: its own configuration and token folder in a temp dir,
// initialised with softhsm2-util, so tests never share a token (nor touch the dev token).
// SoftHSM2 reads SOFTHSM2_CONF when its library is initialised: a test process that signs itself
// sets it in its own environment (useToken); processes it starts get it in theirs (env).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tools } from './harness.ts';

export interface TestToken {
  label: string;
  pin: string;
  soPin: string;
  module: string;
  /** SOFTHSM2_CONF of this token's configuration */
  conf: string;
  /** what selects this token: ARBITER_SIGNER, ARBITER_PKCS11_*, SOFTHSM2_CONF */
  env: Record<string, string>;
  /** makes this process's SoftHSM2 read this token's configuration */
  useToken(): void;
  cleanup(): void;
}

export function createTestToken(label = `t-${randomBytes(4).toString('hex')}`): TestToken {
  const module = (tools() as Record<string, string | undefined>).SOFTHSM2_MODULE;
  if (!module) throw new Error('SOFTHSM2_MODULE missing from .data/tools.env: run scripts/bootstrap.sh (scripts/bootstrap-softhsm.sh)');
  const dir = mkdtempSync(join(tmpdir(), 'arbiter-softhsm-'));
  mkdirSync(join(dir, 'tokens'));
  const conf = join(dir, 'softhsm2.conf');
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const pin = randomBytes(8).toString('hex');
  const soPin = randomBytes(8).toString('hex');
  execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--so-pin', soPin, '--pin', pin], { env: { ...process.env, SOFTHSM2_CONF: conf }, stdio: 'ignore' });
  const env = { ARBITER_SIGNER: 'pkcs11', ARBITER_PKCS11_MODULE: module, ARBITER_PKCS11_TOKEN: label, ARBITER_PKCS11_PIN: pin, SOFTHSM2_CONF: conf };
  return {
    label, pin, soPin, module, conf, env,
    useToken: () => { process.env.SOFTHSM2_CONF = conf; },
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
