// The `isolation` readiness check (api/readiness.ts engineIsolation) over what an engine answers
// to "list networks" and "info", and the mapping of declared evidence paths to files in the
// evidence bundle (activities/evidence-inside.ts). Real-engine behaviour is covered by the
// runtime end-to-end test; these pin the decisions on answers this engine cannot give.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { engineIsolation } from '../../api/readiness.ts';
import { evidenceRelPath } from '../../activities/evidence-inside.ts';

/** An engine that answers the two calls engineIsolation makes with canned replies. */
function engine(networks: Array<{ Name: string; Driver: string }>, securityOptions: string[]): Docker {
  return { listNetworks: async () => networks, info: async () => ({ SecurityOptions: securityOptions }) } as unknown as Docker;
}
const NO_BRIDGE = [{ Name: 'host', Driver: 'host' }, { Name: 'none', Driver: 'null' }];
const SECCOMP = ['name=seccomp,profile=default'];

void describe('readiness: engine isolation', () => {
  void it('when the engine has only the host and none networks and default seccomp, the check is ok', async () => {
    assert.equal(await engineIsolation(engine(NO_BRIDGE, SECCOMP)), true);
  });

  void it('when the engine has a bridge network, the check fails and names it', async () => {
    const r = await engineIsolation(engine([...NO_BRIDGE, { Name: 'bridge', Driver: 'bridge' }], SECCOMP));
    assert.match(String(r), /^failing: .*bridge \(bridge\).*--bridge=none/);
  });

  void it('when the engine has a macvlan network, the check fails too', async () => {
    assert.match(String(await engineIsolation(engine([...NO_BRIDGE, { Name: 'lan', Driver: 'macvlan' }], SECCOMP))), /^failing: .*lan \(macvlan\)/);
  });

  void it('when the engine has no seccomp, or an unconfined default profile, the check fails', async () => {
    assert.match(String(await engineIsolation(engine(NO_BRIDGE, ['name=apparmor']))), /^failing: .*no seccomp/);
    assert.match(String(await engineIsolation(engine(NO_BRIDGE, ['name=seccomp,profile=unconfined']))), /^failing: .*unconfined/);
  });
});

void describe('declared evidence paths', () => {
  void it('an absolute, normalised path becomes the same path under files/', () => {
    assert.equal(evidenceRelPath('/work/answer.txt'), 'work/answer.txt');
  });

  for (const bad of ['work/answer.txt', '/', '/work/../etc/passwd', '/work//a', '/work/./a', '/work/dir/']) {
    void it(`"${bad}" is refused rather than written outside files/`, () => {
      assert.equal(evidenceRelPath(bad), undefined);
    });
  }
});
