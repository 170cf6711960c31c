// A pass-through proxy in front of a Docker engine's socket that holds the requests a test picks.
// A worker pointed at it (DOCKER_SOCKET) reaches the real engine for every other request, streamed
// answers (/events) included; a held request never reaches the engine. Upgraded connections (an
// exec's or attach's hijacked stream) are relayed byte for byte, and are never held. A fault test
// uses it to kill a worker between two engine calls that are milliseconds apart: the kill follows
// the engine's own event for the first call while the second is held, so it cannot land after it
// on a busy machine.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

export interface HeldRequest {
  method: string;
  url: string;
  /** closes the caller's connection: the engine never sees the request */
  drop(): void;
  /** lets the request through to the engine after all, late */
  release(): void;
}

export interface DockerGate {
  socket: string;
  /** requests held so far (dropped ones included) */
  held: HeldRequest[];
  /** calls back on each request as it is held */
  onHold(listener: (r: HeldRequest) => void): void;
  /** drops every request still held */
  dropAll(): void;
  close(): Promise<void>;
}

export async function startDockerGate(opts: {
  socket: string;
  engineSocket: string;
  /** whether to hold this request instead of passing it on */
  hold: (method: string, url: string) => boolean;
}): Promise<DockerGate> {
  const held: HeldRequest[] = [];
  const pending = new Set<HeldRequest>();
  const listeners: Array<(r: HeldRequest) => void> = [];
  const sockets = new Set<Socket>();

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const upstream = request({ socketPath: opts.engineSocket, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    // The caller went away (killed): a streaming answer (/events) must not stay open at the engine.
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  };

  const server = createServer((req, res) => {
    const method = req.method ?? '';
    const url = req.url ?? '';
    if (!opts.hold(method, url)) return forward(req, res);
    const h: HeldRequest = {
      method,
      url,
      drop: () => {
        if (pending.delete(h)) res.destroy();
      },
      release: () => {
        if (pending.delete(h)) forward(req, res);
      },
    };
    held.push(h);
    pending.add(h);
    for (const l of listeners) l(h);
  });
  // The engine answers an exec's start by taking over the connection: the request goes through as
  // it came, and from then on both directions are piped as they are.
  server.on('upgrade', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const upstream = connect(opts.engineSocket, () => {
      const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  rmSync(opts.socket, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.socket, () => resolve());
  });

  const dropAll = () => {
    for (const h of [...pending]) h.drop();
  };
  return {
    socket: opts.socket,
    held,
    onHold: (l) => { listeners.push(l); },
    dropAll,
    async close() {
      dropAll();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(opts.socket, { force: true });
    },
  };
}
