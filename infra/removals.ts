// The containers a host is removing itself. Their stop is the host's own doing, after their
// scenario stopped waiting for them; signalling it to the workflow would only add an event and a
// workflow task to its history. The engine reports the stop a moment after the removal returns,
// so a name is remembered for a while after.
const REMEMBER_MS = 60_000;

export class Removals {
  private readonly until = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  add(containerName: string): void {
    this.prune();
    this.until.set(containerName, this.now() + REMEMBER_MS);
  }

  has(containerName: string): boolean {
    const until = this.until.get(containerName);
    return until !== undefined && until > this.now();
  }

  private prune(): void {
    const now = this.now();
    for (const [name, until] of this.until) if (until <= now) this.until.delete(name);
  }
}
