// The probe and log-triage scorers (templates/*/1/scorer/score.sh), run with the host's static
// busybox over evidence folders laid out as the evidence collector writes them. The evidence
// files the subject controls are fed hostile content too: a scorer must only read and compare it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseScorerOutput } from '../../activities/score.ts';
import { DEFAULT_TEMPLATES_DIR } from '../../infra/template.ts';
import type { ScoreResult } from '../../infra/verdict.ts';
import { tempDir } from './helpers.ts';

const run = promisify(execFile);

async function score(template: string, files: Record<string, string>): Promise<ScoreResult & { byName: Record<string, boolean> }> {
  const dir = tempDir();
  try {
    for (const [name, content] of Object.entries(files)) {
      mkdirSync(join(dir, name, '..'), { recursive: true });
      writeFileSync(join(dir, name), content);
    }
    const { stdout } = await run('/bin/busybox', ['sh', join(DEFAULT_TEMPLATES_DIR, template, '1', 'scorer', 'score.sh')], { env: { EVIDENCE_DIR: dir, PATH: '/usr/bin:/bin' } });
    assert.equal(stdout.split('\n').filter(Boolean).length, 1, 'exactly one line of output');
    const result = parseScorerOutput(stdout);
    return { ...result, byName: Object.fromEntries(result.checks.map((c) => [c.name, c.passed])) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// What the probe printed in a hardened container on this machine (Docker 20.10, cgroup v1).
const REPORT = {
  probe: 1, uid: 1000, gid: 1000, interfaces: ['lo'], rootWritable: false, workWritable: true,
  capEff: '0000000000000000', capBnd: '0000000000000000', noNewPrivs: 1, seccomp: 2, gvisor: false, cgroup: 'v1',
  forkBomb: { refused: true, started: 29, pidsMax: 32, pidsLimitHits: 1 },
  memoryHog: { exitCode: 137, oomKills: 1, memoryLimitBytes: 50331648 },
};
// Key order as isolation.json is written: canonical JSON, sorted keys.
const ENGINE = '{"binds":[],"capAdd":[],"capDrop":["ALL"],"init":true,"ipcMode":"private","networkMode":"none","privileged":false,"readonlyRootfs":true,"securityOpt":["no-new-privileges:true"],"user":"1000:1000"}';
const probeEvidence = (report: unknown, engine = ENGINE) => ({ 'files/work/probe.json': `${JSON.stringify(report)}\n`, 'isolation.json': engine });

void describe('probe scorer', () => {
  void it('when the report and the engine show every isolation property, every check passes', async () => {
    const s = await score('probe', probeEvidence(REPORT));
    assert.equal(s.passed, true);
    assert.equal(s.score, s.maxScore);
    assert.deepEqual(Object.keys(s.byName), [
      'reported', 'loopbackOnly', 'rootReadOnly', 'nonRoot', 'noCapabilities', 'noNewPrivileges', 'seccompFiltering',
      'forkBombContained', 'memoryHogKilled', 'engineNoNetwork', 'engineHardened',
    ]);
  });

  const broken: Array<[string, string, Record<string, unknown>]> = [
    ['a network interface besides lo', 'loopbackOnly', { interfaces: ['lo', 'eth0'] }],
    ['a writable root', 'rootReadOnly', { rootWritable: true }],
    ['uid 0', 'nonRoot', { uid: 0 }],
    ['an effective capability', 'noCapabilities', { capEff: '00000000a80425fb' }],
    ['a bounding-set capability', 'noCapabilities', { capBnd: '0000000000000400' }],
    ['no_new_privs off', 'noNewPrivileges', { noNewPrivs: 0 }],
    ['no seccomp filter', 'seccompFiltering', { seccomp: 0 }],
    ['a fork bomb never refused', 'forkBombContained', { forkBomb: { refused: false, started: 4096, pidsMax: null, pidsLimitHits: 0 } }],
    ['a fork refused by something other than the pids limit', 'forkBombContained', { forkBomb: { refused: true, started: 29, pidsMax: 32, pidsLimitHits: 0 } }],
    ['a memory hog that survived', 'memoryHogKilled', { memoryHog: { exitCode: 0, oomKills: 0, memoryLimitBytes: null } }],
  ];
  for (const [what, check, change] of broken) {
    void it(`when the report shows ${what}, ${check} fails and the scenario does not pass`, async () => {
      const s = await score('probe', probeEvidence({ ...REPORT, ...change }));
      assert.equal(s.byName[check], false);
      assert.equal(s.passed, false);
      assert.equal(s.score, s.maxScore - 1, 'only that check fails');
    });
  }

  void it('when the engine gave the container a network, the report alone cannot make it pass', async () => {
    const s = await score('probe', probeEvidence(REPORT, ENGINE.replace('"networkMode":"none"', '"networkMode":"bridge"').replace('"capAdd":[]', '"capAdd":["NET_RAW"]')));
    assert.equal(s.byName.engineNoNetwork, false);
    assert.equal(s.byName.engineHardened, false);
    assert.equal(s.passed, false);
  });

  void it('when no report was collected, every report check fails and nothing else breaks', async () => {
    const s = await score('probe', { 'isolation.json': ENGINE });
    assert.equal(s.byName.reported, false);
    assert.equal(s.score, 2, 'only the engine checks pass');
  });
});

void describe('log-triage scorer', () => {
  const answer = (text: string) => ({ 'files/work/answer.txt': text });

  void it('when the answer names the attacker IP and the account, all three checks pass', async () => {
    const s = await score('log-triage', answer('203.0.113.77 deploy\n'));
    assert.deepEqual(s.byName, { answerWritten: true, attackerIp: true, compromisedAccount: true });
    assert.equal(s.passed, true);
  });

  void it('when the account is wrong, only that check fails', async () => {
    const s = await score('log-triage', answer('203.0.113.77 root\n'));
    assert.deepEqual(s.byName, { answerWritten: true, attackerIp: true, compromisedAccount: false });
    assert.equal(s.passed, false);
  });

  void it('when a scanner that never got in is named, the IP check fails', async () => {
    const s = await score('log-triage', answer('198.51.100.23 deploy'));
    assert.equal(s.byName.attackerIp, false);
  });

  void it('when no answer was collected, nothing passes', async () => {
    const s = await score('log-triage', {});
    assert.equal(s.score, 0);
  });

  void it('when the answer is shell code or a glob, it is compared, never run or expanded', async () => {
    const marker = join(tempDir(), 'ran');
    const s = await score('log-triage', answer(`$(touch ${marker}) \`touch ${marker}\`\n* *\n`));
    assert.equal(s.score, 1, 'written, nothing else');
    assert.equal(existsSync(marker), false);
  });
});
