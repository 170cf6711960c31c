// The API's half of subject access: it has decided who may do what (api/routes/access.ts); this
// relays the call to the container host that runs the scenario (workers/access-server.ts), with a
// relay token signed for exactly that host, scenario, actor and kind of access. The API never
// holds a Docker socket; bytes of outputs and files pass through here and never through Temporal.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import WebSocket from 'ws';
import { accessEndpoint, type Config, type SecretRing } from '../../infra/config.ts';
import { mintToken, type RelayClaims } from '../../infra/tokens.ts';
import { ArbiterError, UnavailableError } from '../../lib/errors.ts';

/** A relay token only has to outlive the hop to the host. */
const RELAY_TOKEN_SECONDS = 60;

export interface RelayTarget {
  scenarioId: string;
  hostId: string;
}

export interface RelayAnswer { status: number; headers: IncomingMessage['headers']; body: Buffer }

export interface RelayRequest {
  method: string;
  path: string;
  /** a stream is sent as it comes, with `length` as its content-length when the client gave one */
  body?: Buffer | Readable;
  length?: number;
  contentType?: string;
  signal?: AbortSignal;
}

function collect(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
  });
}

/** An error the host answered in the contract's shape: passed on as it is. */
export class HostAnswerError extends ArbiterError {
  constructor(status: number, code: string, message: string) {
    super(code, status, message);
  }
}

function endpointParts(address: string): { socketPath: string } | { host: string; port: number } {
  if (address.startsWith('unix:')) return { socketPath: address.slice('unix:'.length) };
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

export class AccessService {
  constructor(private readonly config: Pick<Config, 'access' | 'secrets'>) {}

  private ring(): SecretRing {
    const r = this.config.secrets.RELAY_HMAC_SECRET;
    if (!r) throw new UnavailableError('subject access is not configured here (RELAY_HMAC_SECRET is not set)', 'access_unavailable');
    return r;
  }

  private async relayToken(target: RelayTarget, claims: Omit<RelayClaims, 'scn' | 'host'>): Promise<string> {
    return (await mintToken('relay', { ...claims, scn: target.scenarioId, host: target.hostId }, this.ring(), { ttlSeconds: RELAY_TOKEN_SECONDS })).token;
  }

  /** One HTTP call to the host; a host error in the contract's shape comes back as that error. */
  async call(target: RelayTarget, claims: Omit<RelayClaims, 'scn' | 'host'>, req: RelayRequest): Promise<RelayAnswer> {
    const res = await this.open(target, claims, req);
    return { status: res.statusCode ?? 502, headers: res.headers, body: await collect(res) };
  }

  /**
   * The same call, answered as soon as the host's headers arrive: a success's body is the host's
   * response itself, for the caller to pass on as it comes (a file of up to 100 MiB is never held
   * whole here). A body given as a stream is sent as it comes too; its failure (the client went
   * away, or sent more than its limit) fails the call with that error, and the host, whose request
   * is cut short, writes nothing.
   */
  async open(target: RelayTarget, claims: Omit<RelayClaims, 'scn' | 'host'>, req: RelayRequest): Promise<IncomingMessage> {
    const token = await this.relayToken(target, claims);
    const address = accessEndpoint(this.config, target.hostId);
    const { body } = req;
    const length = Buffer.isBuffer(body) ? body.length : req.length;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = httpRequest({
        ...endpointParts(address),
        method: req.method,
        path: req.path,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body ? { 'content-type': req.contentType ?? 'application/octet-stream' } : {}),
          ...(body && length !== undefined ? { 'content-length': String(length) } : {}),
        },
        ...(req.signal ? { signal: req.signal } : {}),
      }, resolve);
      r.on('error', (err) => reject(new UnavailableError(`the container host ${target.hostId} cannot be reached (${(err as NodeJS.ErrnoException).code ?? err.message})`, 'host_unavailable')));
      if (body instanceof Readable) {
        // Rejected with the body's own error first: the host's broken request that follows is its consequence.
        body.once('error', (err) => { reject(err); r.destroy(); });
        body.pipe(r);
      } else {
        r.end(body);
      }
    });
    const status = res.statusCode ?? 502;
    if (status < 400) return res;
    const text = (await collect(res)).toString('utf8');
    let error: { code?: string; message?: string } = {};
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
    } catch {
      // not the contract's shape: reported below as the host's failure
    }
    if (status >= 500 || !error.code) {
      throw new UnavailableError(`the container host ${target.hostId} failed (${status}${error.message ? `: ${error.message}` : ''})`, 'host_failed');
    }
    throw new HostAnswerError(status, error.code, error.message ?? error.code);
  }

  /** Opens the host's end of a terminal: a WebSocket the caller pipes the subject's socket into. */
  async terminal(target: RelayTarget, claims: Omit<RelayClaims, 'scn' | 'host'>, size: { cols: number; rows: number }): Promise<WebSocket> {
    const token = await this.relayToken(target, claims);
    const address = accessEndpoint(this.config, target.hostId);
    const path = `/v1/scenarios/${encodeURIComponent(target.scenarioId)}/terminal?cols=${size.cols}&rows=${size.rows}`;
    const url = address.startsWith('unix:') ? `ws+unix://${address.slice('unix:'.length)}:${path}` : `ws://${address}${path}`;
    return new WebSocket(url, { headers: { authorization: `Bearer ${token}` }, maxPayload: 1024 * 1024 });
  }
}
