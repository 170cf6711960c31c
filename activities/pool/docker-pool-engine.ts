// The pool logic's engine on dockerode. Creating and starting a new entry's members is the
// pool keeper's (workers/pool-keeper.ts), which knows each pool's create options; a claimer
// never creates, so it passes no maker.
import type Docker from 'dockerode';
import type { EngineContainer, PoolEngine, RenameOutcome } from './pool-logic.ts';

export interface EntryMaker {
  createMember(key: string, entry: string, suffix: string, name: string): Promise<void>;
  startEntry(key: string, entry: string): Promise<void>;
}

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number } | null)?.statusCode;

function fromList(c: Docker.ContainerInfo): EngineContainer {
  return { id: c.Id, name: (c.Names[0] ?? c.Id).replace(/^\//, ''), labels: c.Labels, running: c.State === 'running' };
}

export function dockerPoolEngine(docker: Docker, maker?: EntryMaker): PoolEngine {
  const noMaker = (): never => { throw new Error('this pool engine creates no entries (only the pool keeper does)'); };
  return {
    async list(labels) {
      return (await docker.listContainers({ all: true, filters: { label: [...labels] } })).map(fromList);
    },
    async listNamed(prefix, labels) {
      // The engine's name filter matches anywhere in the name: the exact prefix is checked here.
      const found = await docker.listContainers({ all: true, filters: { name: [prefix], label: [...labels] } });
      return found.map(fromList).filter((c) => c.name.startsWith(prefix));
    },
    async inspect(nameOrId) {
      try {
        const info = await docker.getContainer(nameOrId).inspect();
        return { id: info.Id, name: info.Name.replace(/^\//, ''), labels: info.Config.Labels ?? {}, running: info.State.Running };
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async rename(nameOrId, to): Promise<RenameOutcome> {
      try {
        await docker.getContainer(nameOrId).rename({ name: to });
        return 'renamed';
      } catch (err) {
        if (statusOf(err) === 404) return 'missing';
        if (statusOf(err) === 409) return 'taken';
        throw err;
      }
    },
    async remove(nameOrId) {
      try {
        await docker.getContainer(nameOrId).remove({ force: true, v: true });
      } catch (err) {
        // Gone already, or being removed right now.
        if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
      }
    },
    createMember: (key, entry, suffix, name) => (maker ? maker.createMember(key, entry, suffix, name) : noMaker()),
    startEntry: (key, entry) => (maker ? maker.startEntry(key, entry) : noMaker()),
  };
}
