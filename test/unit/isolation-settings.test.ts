// isolationOf reads the policy's isolation input off the real Docker create options. Each case
// weakens the hardened scenario spec in one way and checks that the real policy bundle, given
// what isolationOf derived, refuses exactly that weakness: a setting that stopped reaching the
// policy would show up here as an allow.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import { scenarioSpec } from '../../activities/container-spec.ts';
import { isolationOf } from '../../activities/isolation-settings.ts';
import { DEFAULT_POLICY_DIR, loadPolicy, type PolicyEngine } from '../../infra/policy/wasm-engine.ts';
import { policyInputFor } from '../../activities/evaluate-policy.ts';
import { loadTemplate } from '../../infra/template.ts';

const hello = loadTemplate({ id: 'hello', version: '1' });
const limits = { memoryMb: 64, cpus: 0.5, pids: 32, ttlSeconds: 1800, tmpfsMb: 16 };
const digest = 'ab'.repeat(32);

function hardened(): Docker.ContainerCreateOptions {
  return scenarioSpec({ scenarioId: 'scn-iso', tenant: 'acme', template: hello, limits, env: ['ARBITER_SCENARIO_ID=scn-iso'] });
}

type Weakening = [name: string, weaken: (spec: Docker.ContainerCreateOptions, host: Docker.HostConfig) => void, reasons: string[]];

const weakenings: Weakening[] = [
  ['the default bridge network', (s, h) => { delete h.NetworkMode; s.NetworkDisabled = false; }, ['networking is enabled (network mode "default"); it must be "none" with networking disabled']],
  ['the host network', (_s, h) => { h.NetworkMode = 'host'; }, ['networking is enabled (network mode "host"); it must be "none" with networking disabled']],
  ['networking not disabled', (s) => { delete s.NetworkDisabled; }, ['networking is enabled (network mode "none"); it must be "none" with networking disabled']],
  ['a writable root filesystem', (_s, h) => { delete h.ReadonlyRootfs; }, ['the root filesystem is writable']],
  ['privileged mode', (_s, h) => { h.Privileged = true; }, ['the container is privileged']],
  ['the image\'s default user', (s) => { delete s.User; }, ['the container user "" is not a numeric non-root uid:gid']],
  ['uid 0', (s) => { s.User = '0:1000'; }, ['the container user "0:1000" is not a numeric non-root uid:gid']],
  ['no capabilities dropped', (_s, h) => { h.CapDrop = []; }, ['not every capability is dropped (dropped: )']],
  ['a capability added', (_s, h) => { h.CapAdd = ['NET_RAW']; }, ['capabilities are added: "NET_RAW"']],
  ['no security options', (_s, h) => { h.SecurityOpt = []; }, ['no-new-privileges is not set']],
  ['no-new-privileges turned off', (_s, h) => { h.SecurityOpt = ['no-new-privileges=false']; }, ['no-new-privileges is not set']],
  ['seccomp unconfined', (_s, h) => { h.SecurityOpt = ['no-new-privileges', 'seccomp=unconfined']; }, ['the seccomp profile is "unconfined", not the engine\'s default']],
  ['seccomp unconfined, legacy syntax', (_s, h) => { h.SecurityOpt = ['no-new-privileges:true', 'seccomp:unconfined']; }, ['the seccomp profile is "unconfined", not the engine\'s default']],
  ['a custom seccomp profile', (_s, h) => { h.SecurityOpt = ['no-new-privileges:true', 'seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']; }, ['the seccomp profile is "custom", not the engine\'s default']],
  ['the host pid namespace', (_s, h) => { h.PidMode = 'host'; }, ['the container does not get its own pid namespace (mode "host")']],
  ['the host ipc namespace', (_s, h) => { h.IpcMode = 'host'; }, ['the container does not get its own ipc namespace (mode "host")']],
  ['the host uts namespace', (_s, h) => { h.UTSMode = 'host'; }, ['the container does not get its own uts namespace (mode "host")']],
  ['the host user namespace', (_s, h) => { h.UsernsMode = 'host'; }, ['the container does not get its own userns namespace (mode "host")']],
  ['the host cgroup namespace', (_s, h) => { (h as { CgroupnsMode?: string }).CgroupnsMode = 'host'; }, ['the container does not get its own cgroupns namespace (mode "host")']],
  ['another container\'s pid namespace', (_s, h) => { h.PidMode = 'container:other'; }, ['the container does not get its own pid namespace (mode "container:other")']],
  ['a host device', (_s, h) => { h.Devices = [{ PathOnHost: '/dev/kvm', PathInContainer: '/dev/kvm', CgroupPermissions: 'rwm' }]; }, ['host devices are exposed: "/dev/kvm"']],
  ['a GPU request', (_s, h) => { h.DeviceRequests = [{ Driver: 'nvidia', Count: -1, Capabilities: [['gpu']] }]; }, ['host devices are exposed: "request:nvidia"']],
  ['a device cgroup rule', (_s, h) => { h.DeviceCgroupRules = ['c 1:3 mr']; }, ['host devices are exposed: "cgroup-rule:c 1:3 mr"']],
  ['the Docker socket', (_s, h) => { h.Binds = ['/var/run/docker.sock:/var/run/docker.sock'];
  }, ['the mount of "/var/run/docker.sock" at "/var/run/docker.sock" exposes a socket', 'the mount of "/var/run/docker.sock" at "/var/run/docker.sock" is writable']],
  ['a writable bind', (_s, h) => { h.Binds = ['/srv/out:/out:rw']; }, ['the mount of "/srv/out" at "/out" is writable']],
  ['a read-only bind of /proc', (_s, h) => { h.Mounts = [{ Type: 'bind', Source: '/proc', Target: '/host-proc', ReadOnly: true }]; }, ['the mount of "/proc" exposes host devices or kernel interfaces']],
  ['a writable named volume', (_s, h) => { h.Mounts = [{ Type: 'volume', Source: 'cache', Target: '/cache' }]; }, ['the mount of "cache" at "/cache" is writable']],
  ['an anonymous volume', (s) => { s.Volumes = { '/data': {} }; }, ['the mount of "" at "/data" is writable']],
  ['another container\'s volumes', (_s, h) => { h.VolumesFrom = ['other:ro']; }, ['the mount at "" is of type "volumes-from", which is not allowed']],
  ['no memory limit', (_s, h) => { delete h.Memory; delete h.MemorySwap; }, ['the container\'s memoryMb limit is 0, outside 1..128 for plan "free"']],
  ['unlimited swap', (_s, h) => { h.MemorySwap = -1; }, ['the container may swap (memory-swap must equal memory)']],
  ['default swap (as much again as memory)', (_s, h) => { delete h.MemorySwap; }, ['the container may swap (memory-swap must equal memory)']],
  ['no CPU limit', (_s, h) => { delete h.NanoCpus; }, ['the container\'s cpus limit is 0, outside 1..0.5 for plan "free"']],
  ['an unlimited pids limit', (_s, h) => { h.PidsLimit = -1; }, ['the container\'s pids limit is 0, outside 1..64 for plan "free"']],
];

void describe('isolationOf and the spawn policy', () => {
  let engine: PolicyEngine;
  before(async () => {
    engine = await loadPolicy(DEFAULT_POLICY_DIR);
  });

  function inputWith(spec: Docker.ContainerCreateOptions) {
    const base = policyInputFor({ scenarioId: 'scn-iso', subject: 'alice', tenant: 'acme', track: 'intro', entitlement: { plan: 'free', template: hello, templateDigest: digest, limits } });
    // The launch keeps the main entry of services equal to isolation: change both, as a spec would.
    const isolation = isolationOf(spec);
    return { ...base, isolation, services: base.services.map((s) => (s.main ? { ...s, isolation } : s)) };
  }

  void it('reads the hardened scenario spec as complete isolation', async () => {
    const spec = hardened();
    assert.deepEqual(isolationOf(spec), {
      runtime: 'runc',
      networkMode: 'none',
      networkDisabled: true,
      readonlyRootfs: true,
      privileged: false,
      user: hello.user,
      capDrop: ['ALL'],
      capAdd: [],
      noNewPrivileges: true,
      seccomp: 'default',
      namespaces: { pid: '', ipc: 'private', uts: '', userns: '', cgroupns: '' },
      devices: [],
      // size-limited tmpfs is not a host mount
      mounts: [],
      resources: { memoryMb: 64, memorySwapMb: 64, cpus: 0.5, pids: 32, nproc: 0 },
    });
    assert.deepEqual(await engine.evaluate(inputWith(spec)), { allow: true, reasons: [], policySha256: engine.sha256, access: { exec: true, files: true, terminal: true, terminalSessions: 1 } });
  });

  void it('reads binds with their mode, and tells volumes from host paths', () => {
    const spec = hardened();
    spec.HostConfig!.Binds = ['/srv/fixtures:/fixtures:ro', 'named:/named:ro,z', '/srv/out:/out'];
    assert.deepEqual(isolationOf(spec).mounts, [
      { type: 'bind', source: '/srv/fixtures', target: '/fixtures', readOnly: true },
      { type: 'volume', source: 'named', target: '/named', readOnly: true },
      { type: 'bind', source: '/srv/out', target: '/out', readOnly: false },
    ]);
  });

  void it('allows a read-only bind of a plain host folder, as a template may declare', async () => {
    const spec = hardened();
    spec.HostConfig!.Binds = ['/srv/fixtures:/fixtures:ro'];
    assert.equal((await engine.evaluate(inputWith(spec))).allow, true);
  });

  for (const [name, weaken, reasons] of weakenings) {
    void it(`when the spec has ${name}, the policy denies it with exactly that reason`, async () => {
      const spec = hardened();
      weaken(spec, spec.HostConfig!);
      const decision = await engine.evaluate(inputWith(spec));
      assert.equal(decision.allow, false);
      assert.deepEqual(decision.reasons, [...reasons].sort());
    });
  }
});
