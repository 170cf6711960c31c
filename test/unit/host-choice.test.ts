// Which host a new scenario goes to (activities/host-choice.ts): by free capacity among the hosts that
// answer, never a silent one, and a clear reason when none answers.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chooseHost, lostHosts, type HostReport } from '../../activities/host-choice.ts';

const NOW = 1_800_000_000_000;
const report = (hostId: string, running: number, capacity: number, ageMs = 1_000): HostReport => ({ hostId, running, capacity, reportedAt: NOW - ageMs });
const reportsOf = (...rs: HostReport[]) => new Map(rs.map((r) => [r.hostId, r]));
const pick = (reports: Map<string, HostReport>, opts: { scenarioId?: string; hosts?: string[]; pending?: Map<string, number> } = {}) =>
  chooseHost({ scenarioId: opts.scenarioId ?? 'scn-aaaaaaaa', hosts: opts.hosts ?? [...reports.keys()], reports, now: NOW, answerWithinMs: 10_000, ...(opts.pending ? { pending: opts.pending } : {}) });

describe('host choice', () => {
  it('goes to the host with the most free capacity, whatever the scenario id', () => {
    const reports = reportsOf(report('h1', 10, 32), report('h2', 3, 32), report('h3', 0, 4));
    for (const scenarioId of ['scn-aaaaaaaa', 'scn-bbbbbbbb', 'scn-cccccccc', 'scn-dddddddd']) {
      assert.deepEqual(pick(reports, { scenarioId }), { hostId: 'h2', free: 29 });
    }
  });

  it('measures free capacity against each host its own limit', () => {
    // h1 runs fewer scenarios but has a smaller limit: h2 has more room.
    assert.equal((pick(reportsOf(report('h1', 2, 4), report('h2', 5, 32))) as { hostId: string }).hostId, 'h2');
  });

  it('counts the scenarios sent to a host since its last report', () => {
    const reports = reportsOf(report('h1', 0, 8), report('h2', 1, 8));
    assert.equal((pick(reports) as { hostId: string }).hostId, 'h1');
    assert.equal((pick(reports, { pending: new Map([['h1', 3]]) }) as { hostId: string }).hostId, 'h2');
  });

  it('never picks a host whose report is too old, even the emptiest', () => {
    const reports = reportsOf(report('h1', 0, 32, 30_000), report('h2', 31, 32));
    assert.deepEqual(pick(reports), { hostId: 'h2', free: 1 });
  });

  it('never picks a listed host that never reported', () => {
    assert.deepEqual(pick(reportsOf(report('h2', 5, 8)), { hosts: ['h1', 'h2'] }), { hostId: 'h2', free: 3 });
  });

  it('overloads the least loaded host rather than refusing when every answering host is full', () => {
    assert.deepEqual(pick(reportsOf(report('h1', 40, 32), report('h2', 33, 32))), { hostId: 'h2', free: -1 });
  });

  it('spreads equal hosts by scenario id, and the same id always lands on the same host', () => {
    const reports = reportsOf(report('h1', 0, 8), report('h2', 0, 8));
    const chosen = new Set<string>();
    for (let i = 0; i < 32; i++) {
      const scenarioId = `scn-${String(i).padStart(8, '0')}`;
      const first = pick(reports, { scenarioId });
      assert.deepEqual(pick(reports, { scenarioId }), first);
      chosen.add((first as { hostId: string }).hostId);
    }
    assert.deepEqual([...chosen].sort(), ['h1', 'h2']);
  });

  it('says which hosts are silent, and since when, when none answers', () => {
    const choice = pick(reportsOf(report('h1', 0, 8, 25_000)), { hosts: ['h1', 'h2'] });
    assert.ok('none' in choice);
    assert.match(choice.none, /^no container host is available: none answered in the last 10s/);
    assert.match(choice.none, /h1 \(last report 25s ago\)/);
    assert.match(choice.none, /h2 \(never reported\)/);
  });

  it('declares lost the hosts whose reports stopped for longer than the bound, not one that never reported', () => {
    const reports = reportsOf(report('h1', 3, 8, 61_000), report('h2', 1, 8, 2_000));
    assert.deepEqual(lostHosts({ hosts: ['h1', 'h2', 'h3'], reports, now: NOW, lostAfterMs: 60_000 }), ['h1']);
  });
});
