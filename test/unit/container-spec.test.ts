// The hardening every Arbiter container gets (activities/container-spec.ts), asserted as a whole.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type Docker from 'dockerode';
import {
  diedOfOomKill,
  hardenedSpec,
  holderContainerName,
  LABELS,
  podMembers,
  scenarioContainerName,
  serviceContainerName,
  scenarioSpec,
  scorerContainerName,
  type EffectiveLimits,
  type SpecRequest,
} from '../../activities/container-spec.ts';
import { loadTemplate, type Template } from '../../infra/template.ts';

const TEMPLATE: Template = {
  id: 'hello',
  version: '3',
  description: 'test template',
  tracks: ['intro'],
  user: '1000:1001',
  image: { context: 'image', tag: 'arbiter/hello:3', command: ['/bin/sh', '/opt/hello/run.sh'] },
  scorer: { context: 'scorer', tag: 'arbiter/hello-scorer:3', command: ['/bin/sh', '/opt/scorer/score.sh'], timeoutSeconds: 30 },
  limits: { memoryMb: 64, cpus: 0.5, pids: 32, ttlSeconds: 1800, tmpfsMb: 16 },
  evidencePaths: ['/work/answer.txt'],
};
const LIMITS: EffectiveLimits = { memoryMb: 96, cpus: 0.25, pids: 48, ttlSeconds: 600, tmpfsMb: 12 };

function scenario(over: Partial<Parameters<typeof scenarioSpec>[0]> = {}): Docker.ContainerCreateOptions {
  return scenarioSpec({ scenarioId: 'scn-0042', tenant: 'acme', template: TEMPLATE, limits: LIMITS, env: ['ARBITER_TOKEN=t'], ...over });
}

function scorer(over: Partial<SpecRequest> = {}): Docker.ContainerCreateOptions {
  return hardenedSpec({
    name: scorerContainerName('scn-0042'),
    image: TEMPLATE.scorer.tag,
    command: TEMPLATE.scorer.command,
    user: TEMPLATE.user,
    limits: { memoryMb: 64, cpus: 0.5, pids: 32, tmpfsMb: 8 },
    readOnlyBinds: ['/srv/arbiter/storage/scenarios/scn-0042/results/evidence:/evidence'],
    labels: { [LABELS.scenario]: 'scn-0042', [LABELS.role]: 'scorer' },
    ...over,
  });
}

/** Every hardening property that must hold for any spec, scenario or scorer. */
function assertHardened(spec: Docker.ContainerCreateOptions, limits: { memoryMb: number; cpus: number; pids: number; tmpfsMb: number }): void {
  const host = spec.HostConfig;
  assert.ok(host, 'HostConfig is set');

  assert.equal(host.NetworkMode, 'none');
  assert.equal(spec.NetworkDisabled, true);
  assert.equal(host.ReadonlyRootfs, true);
  assert.deepEqual(host.CapDrop, ['ALL']);
  assert.deepEqual(host.CapAdd ?? [], []);
  const securityOpt = (host.SecurityOpt ?? []) as string[];
  assert.ok(securityOpt.includes('no-new-privileges:true'), 'no-new-privileges is set');
  assert.ok(!securityOpt.some((o) => o.includes('unconfined')), `no unconfined profile in ${JSON.stringify(securityOpt)}`);
  assert.equal(host.Privileged, false);

  const user = spec.User ?? '';
  const uid = user.split(':')[0];
  assert.ok(user.length > 0, 'a user is set');
  assert.ok(uid !== '0' && uid !== 'root' && uid !== '', `user ${user} is not root`);

  const bytes = limits.memoryMb * 1024 * 1024;
  assert.equal(host.Memory, bytes);
  assert.equal(host.MemorySwap, bytes);
  assert.equal(host.NanoCpus, limits.cpus * 1_000_000_000);
  assert.equal(host.PidsLimit, limits.pids);
  assert.ok(Array.isArray(host.Ulimits) && host.Ulimits.length > 0, 'ulimits are set');
  assert.ok(host.Ulimits.some((u) => u.Name === 'nofile' && Number(u.Hard) > 0));

  const tmpfs = Object.values(host.Tmpfs ?? {});
  assert.equal(tmpfs.length, 1);
  assert.ok(tmpfs[0]!.includes(`size=${limits.tmpfsMb}m`), `tmpfs options ${tmpfs[0]} have the size`);
  assert.ok(tmpfs[0]!.includes('noexec') && tmpfs[0]!.includes('nosuid') && tmpfs[0]!.includes('nodev'));

  assert.equal(host.IpcMode, 'private');
  assert.ok(!host.PidMode, 'does not share the host PID namespace');
  assert.ok(host.UTSMode !== 'host' && host.UsernsMode !== 'host');
  assert.equal(host.Init, true);
  const logConfig = host.LogConfig?.Config as Record<string, string> | undefined;
  assert.ok(logConfig?.['max-size'], 'log size is capped');
  assert.deepEqual(host.Devices ?? [], []);
  for (const bind of host.Binds ?? []) assert.ok(bind.endsWith(':ro'), `bind ${bind} is read-only`);
  assert.equal(host.RestartPolicy?.Name, 'no');
  assert.equal(spec.Labels?.[LABELS.managed], 'true');
}

void describe('scenarioSpec: hardening', () => {
  void it('when a scenario spec is built, every hardening setting is present with the effective limits', () => {
    assertHardened(scenario(), LIMITS);
  });

  void it('when a scenario spec is built, it runs as the template\'s non-root uid:gid and the tmpfs belongs to that user', () => {
    const spec = scenario();

    assert.equal(spec.User, TEMPLATE.user);
    assert.deepEqual(Object.keys(spec.HostConfig?.Tmpfs ?? {}), ['/work']);
    assert.match(spec.HostConfig!.Tmpfs!['/work']!, /uid=1000,gid=1001/);
  });

  void it('when a scenario spec is built, it mounts nothing from the host and maps no devices', () => {
    const host = scenario().HostConfig!;

    assert.deepEqual(host.Binds ?? [], []);
    assert.deepEqual(host.Devices ?? [], []);
    assert.equal(host.Mounts, undefined);
  });

  void it('when a scenario spec is built, it uses the template image and command and the given env', () => {
    const spec = scenario();

    assert.equal(spec.Image, TEMPLATE.image.tag);
    assert.deepEqual(spec.Cmd, TEMPLATE.image.command);
    assert.deepEqual(spec.Env, ['ARBITER_TOKEN=t']);
    assert.equal(spec.Tty, false);
    assert.equal(spec.AttachStdin, false);
  });

  void it('when the template has no command, the spec leaves Cmd to the image', () => {
    const { command: _command, ...image } = TEMPLATE.image;

    const spec = scenario({ template: { ...TEMPLATE, image } });

    assert.equal(spec.Cmd, undefined);
  });

  void it('when limits change, the memory, swap, CPU, pids and tmpfs settings follow them', () => {
    const limits: EffectiveLimits = { memoryMb: 256, cpus: 1.5, pids: 100, ttlSeconds: 60, tmpfsMb: 64 };

    assertHardened(scenario({ limits }), limits);
  });

  void it('when the template asks for runsc, the spec uses it and caps processes with gVisor\'s per-sandbox nproc instead of the cgroup pids limit', () => {
    const spec = scenario({ template: { ...TEMPLATE, runtime: 'runsc' } });

    assert.equal(spec.HostConfig?.Runtime, 'runsc');
    assert.equal(spec.HostConfig?.PidsLimit, undefined);
    assert.deepEqual(spec.HostConfig?.Ulimits?.find((u) => u.Name === 'nproc'), { Name: 'nproc', Soft: LIMITS.pids, Hard: LIMITS.pids });
  });

  void it('when the template names no runtime, the spec says runc, with the cgroup pids limit and no nproc ulimit', () => {
    const spec = scenario();

    assert.equal(spec.HostConfig?.Runtime, 'runc');
    assert.ok((spec.HostConfig?.PidsLimit ?? 0) > 0);
    assert.equal(spec.HostConfig?.Ulimits?.find((u) => u.Name === 'nproc'), undefined);
  });
});

void describe('scenarioSpec: name and labels', () => {
  void it('when built twice for the same scenario, the container name is the same and contains the scenario id', () => {
    const a = scenario();
    const b = scenario({ env: ['OTHER=1'] });

    assert.equal(a.name, b.name);
    assert.equal(a.name, scenarioContainerName('scn-0042'));
    assert.ok(a.name?.includes('scn-0042'));
    assert.match(a.name, /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/, 'a valid Docker container name');
  });

  void it('when built for two scenarios, the names differ', () => {
    assert.notEqual(scenario({ scenarioId: 'scn-a' }).name, scenario({ scenarioId: 'scn-b' }).name);
  });

  void it('when built, the labels name the scenario, the tenant, the template and the managed flag', () => {
    const labels = scenario().Labels ?? {};

    assert.equal(labels[LABELS.scenario], 'scn-0042');
    assert.equal(labels[LABELS.tenant], 'acme');
    assert.equal(labels[LABELS.template], 'hello@3');
    assert.equal(labels[LABELS.role], 'scenario');
    assert.equal(labels['io.arbiter.managed'], 'true');
  });

  void it('when the scenario and scorer names are derived from one id, they differ', () => {
    assert.notEqual(scenarioContainerName('scn-0042'), scorerContainerName('scn-0042'));
  });
});

void describe('hardenedSpec: scorer and caller-supplied settings', () => {
  void it('when a scorer spec is built with a bind, it is hardened and the bind is read-only', () => {
    const spec = scorer();

    assertHardened(spec, { memoryMb: 64, cpus: 0.5, pids: 32, tmpfsMb: 8 });
    assert.deepEqual(spec.HostConfig?.Binds, ['/srv/arbiter/storage/scenarios/scn-0042/results/evidence:/evidence:ro']);
  });

  void it('when several binds are given, every one ends with ":ro"', () => {
    const spec = scorer({ readOnlyBinds: ['/a:/a', '/b:/b', '/c:/data'] });

    assert.equal(spec.HostConfig?.Binds?.length, 3);
    assert.ok(spec.HostConfig?.Binds?.every((b) => b.endsWith(':ro')));
  });

  void it('when no tmpfs path is given, /tmp is the writable tmpfs', () => {
    assert.deepEqual(Object.keys(scorer().HostConfig?.Tmpfs ?? {}), ['/tmp']);
  });

  void it('when the caller\'s labels try to set io.arbiter.managed to "false", the spec still marks the container managed', () => {
    const spec = scorer({ labels: { [LABELS.managed]: 'false', [LABELS.scenario]: 'scn-0042' } });

    assert.equal(spec.Labels?.[LABELS.managed], 'true');
  });

  void it('when no env is given, the container gets an empty environment, not the daemon\'s', () => {
    assert.deepEqual(scorer().Env, []);
  });
});

void describe('podMembers: a multi-service scenario', () => {
  const webRecon = loadTemplate({ id: 'web-recon', version: '1' });
  const members = podMembers({ scenarioId: 'scn-0042', tenant: 'acme', template: webRecon, limits: LIMITS, env: [], hostId: 'host-a' });

  void it('when a template has two services, a namespace holder comes first, then the main service, then the other', () => {
    assert.deepEqual(members.map((m) => [m.name, m.role, m.main, m.containerName]), [
      ['pod', 'holder', false, holderContainerName('scn-0042')],
      ['workstation', 'service', true, scenarioContainerName('scn-0042')],
      ['target', 'service', false, serviceContainerName('scn-0042', { name: 'target', main: false })],
    ]);
  });

  void it('when built, the holder owns a namespace with only lo and names every service as 127.0.0.1; every service joins it', () => {
    const [holder, ...services] = members;
    assert.equal(holder!.spec.HostConfig?.NetworkMode, 'none');
    assert.deepEqual(holder!.spec.HostConfig?.ExtraHosts, ['workstation:127.0.0.1', 'target:127.0.0.1']);
    for (const s of services) {
      assert.equal(s.spec.HostConfig?.NetworkMode, `container:${holder!.containerName}`);
      assert.equal(s.spec.HostConfig?.ExtraHosts, undefined, 'a joined container takes the holder\'s /etc/hosts');
    }
  });

  void it('when built, every container is hardened like a single scenario container and carries the scenario\'s labels', () => {
    for (const m of members) {
      const h = m.spec.HostConfig!;
      assert.equal(h.ReadonlyRootfs, true, m.name);
      assert.deepEqual(h.CapDrop, ['ALL'], m.name);
      assert.deepEqual(h.SecurityOpt, ['no-new-privileges:true'], m.name);
      assert.equal(h.Privileged, false, m.name);
      assert.ok((h.Memory ?? 0) > 0 && h.MemorySwap === h.Memory && (h.NanoCpus ?? 0) > 0 && (h.PidsLimit ?? 0) > 0, m.name);
      assert.match(m.spec.User ?? '', /^[1-9][0-9]*:[1-9][0-9]*$/, m.name);
      assert.equal(m.spec.Labels?.[LABELS.scenario], 'scn-0042', m.name);
      assert.equal(m.spec.Labels?.[LABELS.host], 'host-a', m.name);
      assert.equal(m.spec.Labels?.[LABELS.managed], 'true', m.name);
    }
    assert.deepEqual(members.map((m) => m.spec.Labels?.[LABELS.role]), ['holder', 'scenario', 'scenario']);
    assert.deepEqual(members.map((m) => m.spec.Labels?.[LABELS.service]), [undefined, 'workstation', 'target']);
  });

  void it('when built, the main service gets the entitlement\'s limits and the others their own', () => {
    const [, main, target] = members;
    assert.equal(main!.spec.HostConfig?.Memory, LIMITS.memoryMb * 1024 * 1024);
    assert.equal(target!.spec.HostConfig?.Memory, webRecon.services![0]!.limits.memoryMb * 1024 * 1024);
    assert.equal(target!.spec.HostConfig?.PidsLimit, webRecon.services![0]!.limits.pids);
  });

  void it('when a template has one service, there is no holder and the one container is scenarioSpec\'s', () => {
    const one = podMembers({ scenarioId: 'scn-0042', tenant: 'acme', template: TEMPLATE, limits: LIMITS, env: [] });
    assert.equal(one.length, 1);
    assert.deepEqual(one[0]!.spec, scenario({ env: [] }));
    assert.equal(one[0]!.spec.HostConfig?.NetworkMode, 'none');
    assert.equal(one[0]!.spec.NetworkDisabled, true);
  });
});

void describe('diedOfOomKill: whether the OOM killer ended a container\'s main process', () => {
  void it('takes the engine\'s OOMKilled only with the exit of a SIGKILLed child of docker-init (137)', () => {
    assert.equal(diedOfOomKill({ OOMKilled: true, ExitCode: 137 }), true);
    // Docker 20.10 keeps OOMKilled from an earlier OOM kill of another process of the container.
    assert.equal(diedOfOomKill({ OOMKilled: true, ExitCode: 143 }), false, 'stopped by SIGTERM');
    assert.equal(diedOfOomKill({ OOMKilled: true, ExitCode: 0 }), false, 'exited by itself');
    assert.equal(diedOfOomKill({ OOMKilled: false, ExitCode: 137 }), false, 'SIGKILLed by someone else');
    assert.equal(diedOfOomKill({}), false);
  });
});
