import { createServer, type AddressInfo } from 'node:net';

/**
 * A loopback TCP listener that stands in for a server a process must not reach (Temporal, OPA):
 * whatever connects is counted and dropped, so a test can say "it connected nowhere" and, for
 * the control case, wait until it does connect.
 */
export interface CountingListener {
  /** host:port */
  address: string;
  connections(): number;
  /** Resolves at the next connection. */
  nextConnection(): Promise<void>;
  close(): Promise<void>;
}

export async function countingListener(): Promise<CountingListener> {
  let connections = 0;
  const waiting: Array<() => void> = [];
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
    waiting.splice(0).forEach((resolve) => resolve());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    nextConnection: () => new Promise<void>((resolve) => { waiting.push(resolve); }),
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); }),
  };
}
