// The API's half of subject access: it has decided who may do what (api/routes/access.ts); this
// relays the call to the container host that runs the scenario (workers/access-server.ts), with a
// relay token signed for exactly that host, scenario, actor and kind of access. The API never
// holds a Docker socket; bytes of outputs and files pass through here and never through Temporal.
import { request as httpRequest, type IncomingMessage } from 'node:http';
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
  async call(target: RelayTarget, claims: Omit<RelayClaims, 'scn' | 'host'>, req: { method: string; path: string; body?: Buffer; contentType?: string; signal?: AbortSignal }): Promise<RelayAnswer> {
    const token = await this.relayToken(target, claims);
    const address = accessEndpoint(this.config, target.hostId);
    const answer = await new Promise<RelayAnswer>((resolve, reject) => {
      const r = httpRequest({
        ...endpointParts(address),
        method: req.method,
        path: req.path,
        headers: {
          authorization: `Bearer ${token}`,
          ...(req.body ? { 'content-type': req.contentType ?? 'application/octet-stream', 'content-length': String(req.body.length) } : {}),
        },
        ...(req.signal ? { signal: req.signal } : {}),
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      r.on('error', (err) => reject(new UnavailableError(`the container host ${target.hostId} cannot be reached (${(err as NodeJS.ErrnoException).code ?? err.message})`, 'host_unavailable')));
      r.end(req.body);
    });
    if (answer.status >= 400) {
      let error: { code?: string; message?: string } = {};
      try {
        error = (JSON.parse(answer.body.toString('utf8')) as { error?: typeof error }).error ?? {};
      } catch {
        // not the contract's shape: reported below as the host's failure
      }
      if (answer.status >= 500 || !error.code) {
        throw new UnavailableError(`the container host ${target.hostId} failed (${answer.status}${error.message ? `: ${error.message}` : ''})`, 'host_failed');
      }
      throw new HostAnswerError(answer.status, error.code, error.message ?? error.code);
    }
    return answer;
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
