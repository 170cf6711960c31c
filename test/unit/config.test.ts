// loadConfig (infra/config.ts): a process that lacks what it needs stops at start, naming it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig, workerOps, type Config, type SecretName } from '../../infra/config.ts';
import { ConfigError } from '../../lib/errors.ts';

const SECRET_32 = 'x'.repeat(32);
const SECRET_B = 'y'.repeat(40);
const ALL_SECRETS: SecretName[] = ['ET_HMAC_SECRET', 'SAT_HMAC_SECRET', 'OPERATOR_HMAC_SECRET', 'COMPLETION_HMAC_SECRET'];

/** Asserts loadConfig throws a ConfigError whose message contains every one of `names`. */
function throwsNaming(env: NodeJS.ProcessEnv, needs: SecretName[], ...names: string[]): ConfigError {
  let caught: unknown;
  try {
    loadConfig(env, needs);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  for (const name of names) assert.ok(caught.message.includes(name), `"${caught.message}" should name ${name}`);
  return caught;
}

void describe('loadConfig: secrets in production', () => {
  void it('when ARBITER_MODE is unset, the mode is production', () => {
    const config = loadConfig({});

    assert.equal(config.mode, 'production');
  });

  for (const name of ALL_SECRETS) {
    void it(`when ${name} is needed and missing in production, it throws a ConfigError naming ${name}`, () => {
      const env = Object.fromEntries(ALL_SECRETS.filter((n) => n !== name).map((n) => [n, SECRET_32]));

      throwsNaming({ ARBITER_MODE: 'production', ...env }, ALL_SECRETS, name);
    });
  }

  void it('when a needed secret is set to the empty string in production, it counts as missing', () => {
    throwsNaming({ ET_HMAC_SECRET: '' }, ['ET_HMAC_SECRET'], 'ET_HMAC_SECRET');
  });

  void it('when a needed secret is 31 bytes in production, it throws naming the variable', () => {
    throwsNaming({ OPERATOR_HMAC_SECRET: 'x'.repeat(31) }, ['OPERATOR_HMAC_SECRET'], 'OPERATOR_HMAC_SECRET');
  });

  void it('when a needed secret is 32 bytes in production, it is loaded as those bytes', () => {
    const config = loadConfig({ OPERATOR_HMAC_SECRET: SECRET_32 }, ['OPERATOR_HMAC_SECRET']);

    assert.ok(config.secrets.OPERATOR_HMAC_SECRET?.current.equals(Buffer.from(SECRET_32)));
    assert.deepEqual(config.secrets.OPERATOR_HMAC_SECRET?.previous, []);
    assert.deepEqual(config.warnings, []);
  });

  void it('when a secret has 16 two-byte characters (32 bytes, 16 characters), the length is counted in bytes and it is accepted', () => {
    const config = loadConfig({ ET_HMAC_SECRET: 'é'.repeat(16) }, ['ET_HMAC_SECRET']);

    assert.equal(config.secrets.ET_HMAC_SECRET?.current.length, 32);
  });

  void it('when a secret is set but not needed, it is not loaded', () => {
    const config = loadConfig({ ET_HMAC_SECRET: SECRET_32, SAT_HMAC_SECRET: SECRET_32 }, ['ET_HMAC_SECRET']);

    assert.deepEqual(Object.keys(config.secrets), ['ET_HMAC_SECRET']);
  });

  void it('when no secret is needed, a production config loads without any secret', () => {
    const config = loadConfig({}, []);

    assert.deepEqual(config.secrets, {});
  });
});

void describe('loadConfig: dev mode', () => {
  void it('when dev mode has ARBITER_DEV_GENERATE_SECRETS=1 and no secrets, it generates a 32-byte secret per need and warns for each', () => {
    const config = loadConfig({ ARBITER_MODE: 'dev', ARBITER_DEV_GENERATE_SECRETS: '1' }, ['ET_HMAC_SECRET', 'SAT_HMAC_SECRET']);

    assert.equal(config.mode, 'dev');
    assert.equal(config.secrets.ET_HMAC_SECRET?.current.length, 32);
    assert.equal(config.secrets.SAT_HMAC_SECRET?.current.length, 32);
    assert.ok(!config.secrets.ET_HMAC_SECRET.current.equals(config.secrets.SAT_HMAC_SECRET.current));
    assert.ok(config.warnings.some((w) => w.includes('ET_HMAC_SECRET')));
    assert.ok(config.warnings.some((w) => w.includes('SAT_HMAC_SECRET')));
  });

  void it('when dev mode generates secrets, two loads give different secrets (nothing is hard-coded)', () => {
    const env = { ARBITER_MODE: 'dev', ARBITER_DEV_GENERATE_SECRETS: 'true' };

    const a = loadConfig(env, ['COMPLETION_HMAC_SECRET']).secrets.COMPLETION_HMAC_SECRET!;
    const b = loadConfig(env, ['COMPLETION_HMAC_SECRET']).secrets.COMPLETION_HMAC_SECRET!;

    assert.ok(!a.current.equals(b.current));
  });

  void it('when dev mode generates secrets but one is set, the set one is used and only the other is generated', () => {
    const config = loadConfig({ ARBITER_MODE: 'dev', ARBITER_DEV_GENERATE_SECRETS: 'yes', ET_HMAC_SECRET: SECRET_32 }, ['ET_HMAC_SECRET', 'SAT_HMAC_SECRET']);

    assert.ok(config.secrets.ET_HMAC_SECRET?.current.equals(Buffer.from(SECRET_32)));
    assert.ok(!config.warnings.some((w) => w.includes('ET_HMAC_SECRET')));
    assert.ok(config.warnings.some((w) => w.includes('SAT_HMAC_SECRET')));
  });

  void it('when dev mode lacks a secret and generation is off, it throws naming the variable and the generate flag', () => {
    throwsNaming({ ARBITER_MODE: 'dev' }, ['SAT_HMAC_SECRET'], 'SAT_HMAC_SECRET', 'ARBITER_DEV_GENERATE_SECRETS');
  });

  void it('when ARBITER_DEV_GENERATE_SECRETS is "0", it is off', () => {
    throwsNaming({ ARBITER_MODE: 'dev', ARBITER_DEV_GENERATE_SECRETS: '0' }, ['SAT_HMAC_SECRET'], 'SAT_HMAC_SECRET');
  });

  void it('when dev mode has a 31-byte secret, it is accepted with a warning naming it', () => {
    const config = loadConfig({ ARBITER_MODE: 'dev', ET_HMAC_SECRET: 'x'.repeat(31) }, ['ET_HMAC_SECRET']);

    assert.equal(config.secrets.ET_HMAC_SECRET?.current.length, 31);
    assert.ok(config.warnings.some((w) => w.includes('ET_HMAC_SECRET')));
  });

  void it('when dev mode enables ARBITER_DEV_ALLOW_X_PLAN, it is on and warned about', () => {
    const config = loadConfig({ ARBITER_MODE: 'dev', ARBITER_DEV_ALLOW_X_PLAN: '1' });

    assert.equal(config.devAllowXPlan, true);
    assert.ok(config.warnings.some((w) => w.includes('ARBITER_DEV_ALLOW_X_PLAN')));
  });
});

void describe('loadConfig: dev-only flags in production', () => {
  for (const flag of ['ARBITER_DEV_GENERATE_SECRETS', 'ARBITER_DEV_ALLOW_X_PLAN']) {
    void it(`when ${flag}=1 is set in production, it throws naming ${flag}`, () => {
      throwsNaming({ ARBITER_MODE: 'production', [flag]: '1' }, [], flag);
    });

    void it(`when ${flag}=1 is set and ARBITER_MODE is unset (so production), it throws naming ${flag}`, () => {
      throwsNaming({ [flag]: 'true' }, [], flag);
    });
  }

  void it('when production has ARBITER_DEV_GENERATE_SECRETS=1 and a missing secret, it refuses the flag rather than generating', () => {
    throwsNaming({ ARBITER_DEV_GENERATE_SECRETS: '1' }, ['ET_HMAC_SECRET'], 'ARBITER_DEV_GENERATE_SECRETS');
  });

  void it('when ARBITER_MODE is neither dev nor production, it throws naming ARBITER_MODE', () => {
    throwsNaming({ ARBITER_MODE: 'development' }, [], 'ARBITER_MODE');
  });

  void it('when NODE_ENV=development is set, the mode is still production (NODE_ENV is ignored)', () => {
    throwsNaming({ NODE_ENV: 'development' }, ['ET_HMAC_SECRET'], 'ET_HMAC_SECRET');
  });
});

void describe('loadConfig: legacy SAT_SECRET', () => {
  void it('when only the legacy SAT_SECRET is set, it is used for SAT_HMAC_SECRET with a warning naming both names', () => {
    const config = loadConfig({ SAT_SECRET: SECRET_B }, ['SAT_HMAC_SECRET']);

    assert.ok(config.secrets.SAT_HMAC_SECRET?.current.equals(Buffer.from(SECRET_B)));
    assert.ok(config.warnings.some((w) => w.includes('SAT_SECRET') && w.includes('SAT_HMAC_SECRET')));
  });

  void it('when both SAT_SECRET and SAT_HMAC_SECRET are set, SAT_HMAC_SECRET wins and there is no warning', () => {
    const config = loadConfig({ SAT_SECRET: SECRET_B, SAT_HMAC_SECRET: SECRET_32 }, ['SAT_HMAC_SECRET']);

    assert.ok(config.secrets.SAT_HMAC_SECRET?.current.equals(Buffer.from(SECRET_32)));
    assert.deepEqual(config.warnings, []);
  });

  void it('when the legacy SAT_SECRET is too short in production, it throws naming SAT_HMAC_SECRET', () => {
    throwsNaming({ SAT_SECRET: 'short' }, ['SAT_HMAC_SECRET'], 'SAT_HMAC_SECRET');
  });
});

void describe('loadConfig: previous secrets', () => {
  void it('when <NAME>_PREVIOUS lists secrets separated by commas, they become the ring\'s previous secrets in order, trimmed', () => {
    const config = loadConfig({
      ET_HMAC_SECRET: SECRET_32,
      ET_HMAC_SECRET_PREVIOUS: ` ${'a'.repeat(32)} ,${'b'.repeat(33)},, `,
    }, ['ET_HMAC_SECRET']);

    assert.deepEqual(config.secrets.ET_HMAC_SECRET?.previous.map((b) => b.toString('utf8')), ['a'.repeat(32), 'b'.repeat(33)]);
  });

  void it('when <NAME>_PREVIOUS is empty, the ring has no previous secrets', () => {
    const config = loadConfig({ ET_HMAC_SECRET: SECRET_32, ET_HMAC_SECRET_PREVIOUS: '' }, ['ET_HMAC_SECRET']);

    assert.deepEqual(config.secrets.ET_HMAC_SECRET?.previous, []);
  });

  void it('when another secret\'s _PREVIOUS is set, it does not leak into this ring', () => {
    const config = loadConfig({ ET_HMAC_SECRET: SECRET_32, SAT_HMAC_SECRET_PREVIOUS: 'a'.repeat(32) }, ['ET_HMAC_SECRET']);

    assert.deepEqual(config.secrets.ET_HMAC_SECRET?.previous, []);
  });

  void it('when <NAME>_PREVIOUS holds a 1-byte secret in production, it throws a ConfigError naming ET_HMAC_SECRET_PREVIOUS', () => {
    throwsNaming({ ET_HMAC_SECRET: SECRET_32, ET_HMAC_SECRET_PREVIOUS: 'a' }, ['ET_HMAC_SECRET'], 'ET_HMAC_SECRET_PREVIOUS');
  });

  void it('when <NAME>_PREVIOUS lists a 32-byte secret and a 31-byte one in production, the short one still makes it throw naming the variable', () => {
    throwsNaming(
      { ARBITER_MODE: 'production', SAT_HMAC_SECRET: SECRET_32, SAT_HMAC_SECRET_PREVIOUS: `${'a'.repeat(32)},${'b'.repeat(31)}` },
      ['SAT_HMAC_SECRET'],
      'SAT_HMAC_SECRET_PREVIOUS',
    );
  });

  void it('when <NAME>_PREVIOUS holds a 1-byte secret in dev mode, it is accepted with a warning naming ET_HMAC_SECRET_PREVIOUS', () => {
    const config = loadConfig({ ARBITER_MODE: 'dev', ET_HMAC_SECRET: SECRET_32, ET_HMAC_SECRET_PREVIOUS: 'a' }, ['ET_HMAC_SECRET']);

    assert.deepEqual(config.secrets.ET_HMAC_SECRET?.previous.map((b) => b.toString('utf8')), ['a']);
    assert.ok(config.warnings.some((w) => w.includes('ET_HMAC_SECRET_PREVIOUS')), JSON.stringify(config.warnings));
  });
});

void describe('loadConfig: other settings', () => {
  for (const port of ['http', '-1', '65536', '80.5', '1e9']) {
    void it(`when PORT is "${port}", it throws naming PORT`, () => {
      throwsNaming({ PORT: port }, [], 'PORT');
    });
  }

  // Number() reads the first four as 0, 0, 8080 and 1000: PORT must be plain decimal digits.
  for (const [name, port] of [
    ['empty', ''],
    ['a single space', ' '],
    ['hex "0x1F90"', '0x1F90'],
    ['exponent "1e3"', '1e3'],
    ['negative "-1"', '-1'],
    ['one past the top, "65536"', '65536'],
  ] as const) {
    void it(`when PORT is ${name}, it throws a ConfigError naming PORT`, () => {
      throwsNaming({ PORT: port }, [], 'PORT');
    });
  }

  void it('when PORT is "0", the port is the number 0 (let the system choose)', () => {
    assert.equal(loadConfig({ PORT: '0' }).port, 0);
  });

  void it('when PORT is "8080", the port is the number 8080', () => {
    assert.equal(loadConfig({ PORT: '8080' }).port, 8080);
  });

  void it('when PORT is "9090", the port is the number 9090', () => {
    assert.equal(loadConfig({ PORT: '9090' }).port, 9090);
  });

  void it('when PORT is unset, the port is 8080', () => {
    assert.equal(loadConfig({}).port, 8080);
  });

  for (const [name, value] of [
    ['upper-case hex', 'A'.repeat(64)],
    ['63 hex characters', 'a'.repeat(63)],
    ['65 hex characters', 'a'.repeat(65)],
    ['a non-hex character', `${'a'.repeat(63)}g`],
  ] as const) {
    void it(`when ARBITER_POLICY_SHA256 has ${name}, it throws naming ARBITER_POLICY_SHA256`, () => {
      throwsNaming({ ARBITER_POLICY_SHA256: value }, [], 'ARBITER_POLICY_SHA256');
    });
  }

  void it('when ARBITER_POLICY_SHA256 is 64 lower-case hex characters with surrounding spaces, it is kept trimmed', () => {
    const sha = '0123456789abcdef'.repeat(4);

    assert.equal(loadConfig({ ARBITER_POLICY_SHA256: ` ${sha}\n` }).policySha256, sha);
  });

  void it('when ARBITER_POLICY_SHA256 is unset or blank, the policy hash is not pinned', () => {
    assert.equal(loadConfig({}).policySha256, undefined);
    assert.equal(loadConfig({ ARBITER_POLICY_SHA256: '  ' }).policySha256, undefined);
  });

  for (const hostId of ['Host1', '-a', 'a'.repeat(33), 'a_b', '']) {
    void it(`when ARBITER_HOST_ID is "${hostId}", it throws naming ARBITER_HOST_ID`, () => {
      throwsNaming({ ARBITER_HOST_ID: hostId }, [], 'ARBITER_HOST_ID');
    });
  }

  void it('when loaded, the config is frozen', () => {
    const config = loadConfig({});

    assert.ok(Object.isFrozen(config));
    assert.throws(() => { (config as { port: number }).port = 1; }, TypeError);
  });
});

void describe('loadConfig: the main worker\'s workflow cache', () => {
  void it('when ARBITER_WORKFLOW_CACHE_SIZE is unset, 50 workflows are cached', () => {
    assert.equal(loadConfig({}).workflowCacheSize, 50);
  });

  void it('when ARBITER_WORKFLOW_CACHE_SIZE is set, that many are cached', () => {
    assert.equal(loadConfig({ ARBITER_WORKFLOW_CACHE_SIZE: '250' }).workflowCacheSize, 250);
  });

  for (const bad of ['1', '0', '-5', 'lots', '']) {
    void it(`when ARBITER_WORKFLOW_CACHE_SIZE is "${bad}", it throws naming the variable`, () => {
      throwsNaming({ ARBITER_WORKFLOW_CACHE_SIZE: bad }, [], 'ARBITER_WORKFLOW_CACHE_SIZE');
    });
  }
});

/**
 * One row per variable: every bad value stops loadConfig naming the variable, unset gives today's
 * default, and each good value is read as shown. `base` is what the variable needs beside it.
 */
interface Row {
  name: string;
  base?: NodeJS.ProcessEnv;
  read: (config: Config) => unknown;
  unset: unknown;
  good: [string, unknown][];
  bad: string[];
}

const OPS_DEFAULTS = { httpPort: 9091, sdkMetricsPort: 9192 };
const THIS_FILE = fileURLToPath(import.meta.url);
const ROWS: Row[] = [
  {
    name: 'ARBITER_HOSTS',
    read: (c) => c.hosts,
    unset: ['local'],
    good: [['a', ['a']], [' host-1 , host-2 ', ['host-1', 'host-2']], ['a,,b', ['a', 'b']]],
    bad: ['', ' , ', 'Host1', 'a,B', 'a_b', 'a'.repeat(33), 'a,b,a'],
  },
  {
    name: 'ARBITER_RUNTIME',
    read: (c) => c.runtime,
    unset: undefined,
    good: [['runc', 'runc'], ['runsc', 'runsc'], ['', undefined]],
    bad: ['runz', 'RUNSC', 'kata', ' runsc'],
  },
  {
    name: 'ARBITER_READYZ_DOCKER',
    read: (c) => c.readyzDocker,
    unset: true,
    good: [['off', false], ['on', true], ['', true]],
    bad: ['0', 'false', 'no', 'OFF', 'of'],
  },
  {
    name: 'ARBITER_WORKFLOW_BUNDLE',
    read: (c) => c.workflowBundle,
    // Where scripts/bundle-workflows.ts writes, as workers/workers.ts resolved it before.
    unset: fileURLToPath(new URL('../../dist/workflow-bundle.js', import.meta.url)),
    good: [[THIS_FILE, THIS_FILE], ['', fileURLToPath(new URL('../../dist/workflow-bundle.js', import.meta.url))]],
    bad: [join(tmpdir(), `arbiter-no-bundle-${randomUUID()}.js`)],
  },
  {
    name: 'OPA_URL',
    read: (c) => c.opa,
    unset: undefined,
    good: [['http://127.0.0.1:8181', { url: 'http://127.0.0.1:8181/', timeoutMs: 2000 }], ['https://opa.internal/', { url: 'https://opa.internal/', timeoutMs: 2000 }], ['  ', undefined]],
    bad: ['opa:8181', 'not a url', 'file:///etc/passwd'],
  },
  {
    name: 'OPA_TIMEOUT_MS',
    base: { OPA_URL: 'http://127.0.0.1:8181' },
    read: (c) => c.opa?.timeoutMs,
    unset: 2000,
    good: [['500', 500], ['60000', 60000], ['', 2000]],
    bad: ['0', '-1', '1.5', '60001', '600000', 'soon'],
  },
  {
    name: 'WORKER_HTTP_HOST',
    read: (c) => workerOps(c, OPS_DEFAULTS).http?.host,
    unset: '127.0.0.1',
    good: [['0.0.0.0', '0.0.0.0'], ['::', '::'], ['worker.internal', 'worker.internal']],
    bad: ['', ' ', 'http://x', 'a b'],
  },
  {
    name: 'WORKER_HTTP_PORT',
    read: (c) => workerOps(c, OPS_DEFAULTS).http?.port,
    unset: 9091,
    good: [['0', 0], ['9999', 9999], ['off', undefined]],
    bad: ['', 'http', '99999', '65536', '-1', '0x10', '1e3', 'OFF'],
  },
  {
    name: 'TEMPORAL_METRICS_ADDRESS',
    read: (c) => workerOps(c, OPS_DEFAULTS).sdkMetricsAddress,
    unset: '127.0.0.1:9192',
    good: [['0.0.0.0:9500', '0.0.0.0:9500'], ['[::1]:9500', '[::1]:9500'], ['off', undefined]],
    bad: ['', 'localhost', '127.0.0.1:', '127.0.0.1:99999', ':9191x'],
  },
  {
    name: 'LOG_LEVEL',
    read: (c) => c.logLevel,
    unset: 'info',
    good: [['debug', 'debug'], ['warn', 'warn'], ['silent', 'silent']],
    bad: ['', 'INFO', 'verbose', 'warning'],
  },
  {
    name: 'HOST',
    read: (c) => c.host,
    unset: '127.0.0.1',
    good: [['0.0.0.0', '0.0.0.0'], ['::', '::'], ['localhost', 'localhost']],
    bad: ['', ' ', 'a b', 'http://x'],
  },
  {
    name: 'TEMPORAL_ADDRESS',
    read: (c) => c.temporalAddress,
    unset: '127.0.0.1:7233',
    good: [['temporal:7233', 'temporal:7233'], ['temporal.internal', 'temporal.internal'], ['[::1]:7233', '[::1]:7233']],
    bad: ['', 'http://temporal:7233', 'temporal:', 'temporal:99999', 'a b:7233'],
  },
  {
    name: 'TEMPORAL_NAMESPACE',
    read: (c) => c.temporalNamespace,
    unset: 'default',
    good: [['arbiter-prod', 'arbiter-prod']],
    bad: ['', ' ', 'a b'],
  },
  {
    name: 'ARBITER_STORAGE_DIR',
    read: (c) => c.storageDir,
    unset: resolve('./storage'),
    good: [['/var/lib/arbiter/storage', '/var/lib/arbiter/storage'], ['rel', resolve('rel')]],
    bad: ['', ' '],
  },
  {
    name: 'ARBITER_KEYS_DIR',
    read: (c) => c.keysDir,
    unset: resolve('./.data/keys'),
    good: [['/var/lib/arbiter/keys', '/var/lib/arbiter/keys']],
    bad: ['', ' '],
  },
  {
    name: 'DOCKER_SOCKET',
    read: (c) => c.dockerSocket,
    unset: '/var/run/docker.sock',
    good: [['/run/user/1000/docker.sock', '/run/user/1000/docker.sock']],
    bad: ['', ' '],
  },
  {
    name: 'ARBITER_POLICY_DIR',
    read: (c) => c.policyDir,
    unset: undefined,
    good: [['/opt/policy', '/opt/policy']],
    bad: ['', ' '],
  },
  {
    name: 'ARBITER_LEASE_CHECK_SECONDS',
    read: (c) => c.leaseCheckSeconds,
    unset: 60,
    good: [['5', 5]],
    bad: ['', '0', '-1', '1.5', 'soon'],
  },
  {
    name: 'ARBITER_LEASE_START_GRACE_SECONDS',
    read: (c) => c.leaseStartGraceSeconds,
    unset: 120,
    good: [['30', 30]],
    bad: ['', '0', '2m'],
  },
  {
    name: 'ARBITER_HTTP_RATE_LIMIT',
    read: (c) => c.httpRateLimitPerMinute,
    unset: 600,
    good: [['100000000', 100000000]],
    bad: ['', '0', 'unlimited'],
  },
  {
    name: 'ARBITER_ACCESS_IDLE_SECONDS',
    read: (c) => c.access.idleSeconds,
    unset: 60,
    good: [['5', 5]],
    bad: ['', '0', '1m'],
  },
  {
    name: 'ARBITER_ACCESS_RATE_LIMIT',
    read: (c) => c.accessRateLimitPerMinute,
    unset: 600,
    good: [['5', 5]],
    bad: ['', '0', 'unlimited'],
  },
  {
    name: 'ARBITER_SIGNER',
    base: { ARBITER_PKCS11_MODULE: '/usr/lib/softhsm/libsofthsm2.so', ARBITER_PKCS11_TOKEN: 'arbiter' },
    read: (c) => c.signer.kind,
    unset: 'file',
    good: [['file', 'file'], ['pkcs11', 'pkcs11']],
    bad: ['hsm', 'PKCS11', 'kms'],
  },
];

void describe('loadConfig: the verdict signer', () => {
  const PKCS11 = { ARBITER_SIGNER: 'pkcs11', ARBITER_PKCS11_MODULE: '/usr/lib/softhsm/libsofthsm2.so', ARBITER_PKCS11_TOKEN: 'arbiter-dev' };

  void it('when ARBITER_SIGNER=pkcs11, the module, the token label and the PIN are read; trailing blanks of the label are not part of it', () => {
    const config = loadConfig({ ...PKCS11, ARBITER_PKCS11_TOKEN: 'arbiter-dev  ', ARBITER_PKCS11_PIN: '1234' });

    assert.deepEqual(config.signer, { kind: 'pkcs11', module: '/usr/lib/softhsm/libsofthsm2.so', token: 'arbiter-dev', pin: '1234' });
  });

  void it('when ARBITER_SIGNER=pkcs11 lacks the module or the token label, it throws a ConfigError naming the one missing', () => {
    throwsNaming({ ...PKCS11, ARBITER_PKCS11_MODULE: undefined }, [], 'ARBITER_PKCS11_MODULE');
    throwsNaming({ ...PKCS11, ARBITER_PKCS11_MODULE: ' ' }, [], 'ARBITER_PKCS11_MODULE');
    throwsNaming({ ...PKCS11, ARBITER_PKCS11_TOKEN: undefined }, [], 'ARBITER_PKCS11_TOKEN');
    throwsNaming({ ...PKCS11, ARBITER_PKCS11_TOKEN: 'x'.repeat(33) }, [], 'ARBITER_PKCS11_TOKEN');
  });

  void it('when the PIN is not set, the configuration still loads (the API and the container workers never open the token); the signer is left to refuse', () => {
    assert.equal((loadConfig(PKCS11).signer as { pin?: string }).pin, undefined);
  });

  void it('when ARBITER_SIGNER is file, the PKCS#11 variables are not read', () => {
    assert.deepEqual(loadConfig({ ARBITER_PKCS11_TOKEN: 'x'.repeat(40) }).signer, { kind: 'file' });
  });
});

void describe('loadConfig: one row per variable', () => {
  for (const row of ROWS) {
    void it(`when ${row.name} is unset, it takes the default`, () => {
      assert.deepEqual(row.read(loadConfig({ ...row.base })), row.unset);
    });

    for (const [value, expected] of row.good) {
      void it(`when ${row.name} is ${JSON.stringify(value)}, it is read as ${JSON.stringify(expected)}`, () => {
        assert.deepEqual(row.read(loadConfig({ ...row.base, [row.name]: value })), expected);
      });
    }

    for (const value of row.bad) {
      void it(`when ${row.name} is ${JSON.stringify(value)}, it throws a ConfigError naming ${row.name}`, () => {
        throwsNaming({ ...row.base, [row.name]: value }, [], row.name);
      });
    }
  }

  void it('when ARBITER_HOSTS is unset, the main worker spreads over this host\'s ARBITER_HOST_ID alone', () => {
    assert.deepEqual(loadConfig({ ARBITER_HOST_ID: 'h7' }).hosts, ['h7']);
  });

  void it('when ARBITER_WORKFLOW_BUNDLE is relative, it is resolved against the working directory', () => {
    const relative = `./${join('test', 'unit', 'config.test.ts')}`;

    assert.equal(loadConfig({ ARBITER_WORKFLOW_BUNDLE: relative }).workflowBundle, resolve(relative));
  });

  void it('when the ops ports are unset, each worker kind gets its own defaults', () => {
    const config = loadConfig({});

    assert.deepEqual(workerOps(config, { httpPort: 9092, sdkMetricsPort: 9192 }), { http: { host: '127.0.0.1', port: 9092 }, sdkMetricsAddress: '127.0.0.1:9192' });
    assert.deepEqual(workerOps(config, { httpPort: 9091, sdkMetricsPort: 9191 }), { http: { host: '127.0.0.1', port: 9091 }, sdkMetricsAddress: '127.0.0.1:9191' });
  });

  void it('when OPA_TIMEOUT_MS is malformed but OPA_URL is unset, remote mode is off and the timeout is not read', () => {
    assert.equal(loadConfig({ OPA_TIMEOUT_MS: 'soon' }).opa, undefined);
  });
});

void describe('loadConfig: optional secrets', () => {
  void it('when an optional secret is unset, it is not loaded and nothing is generated for it, even in dev with generation on', () => {
    const config = loadConfig({ ARBITER_MODE: 'dev', ARBITER_DEV_GENERATE_SECRETS: '1' }, [], ['BILLING_HMAC_SECRET']);

    assert.equal(config.secrets.BILLING_HMAC_SECRET, undefined);
  });

  void it('when an optional secret is set, it is loaded', () => {
    const config = loadConfig({ BILLING_HMAC_SECRET: SECRET_32 }, [], ['BILLING_HMAC_SECRET']);

    assert.ok(config.secrets.BILLING_HMAC_SECRET?.current.equals(Buffer.from(SECRET_32)));
  });

  void it('when an optional secret is set but too short in production, it throws naming it', () => {
    let caught: unknown;
    try {
      loadConfig({ BILLING_HMAC_SECRET: 'short' }, [], ['BILLING_HMAC_SECRET']);
    } catch (err) {
      caught = err;
    }
    assert.ok(caught instanceof ConfigError && caught.message.includes('BILLING_HMAC_SECRET'), String(caught));
  });
});
