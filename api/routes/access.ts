// Subject access (CONTRACT "Subject access"): exec, file transfer and a terminal in a running
// scenario. The API decides (who, which scenario, running, granted by the plan, which user) and
// relays to the host that runs the container (api/services/access.ts), which does the work and
// records it in the scenario's transcript before answering.
import { serviceContainerName } from '../../contract/containers.ts';
import { servicesOf } from '../../infra/template.ts';
import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
// The limiter's decorators (createRateLimit), registered by api/app.ts.
import type {} from '@fastify/rate-limit';
import { errorCodes, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { WebSocket } from 'ws';
import { Type } from 'typebox';
import { scenarioIdFromJti, type ScenarioState } from '../../contract/scenario.ts';
import { ArbiterError, BadRequestError, ConflictError, ForbiddenError, TooManyRequestsError, UnauthorizedError } from '../../lib/errors.ts';
import { NO_ACCESS } from '../../lib/policy-types.ts';
import type { Config } from '../../infra/config.ts';
import { loadTemplate, type Template } from '../../infra/template.ts';
import { ACCESS_LIMITS } from '../../infra/container-access.ts';
import { closeIfUnread, cutIfUntaken, UploadStream } from '../../infra/upload-stream.ts';
import { PACE_BYTES, pacedSender } from '../../infra/ws-pacing.ts';
import { scenarioNotFound } from '../services/scenarios.ts';
import { AccessService, type RelayTarget } from '../services/access.ts';
import { principalOf, type Principal } from '../plugins/auth.ts';
import { ErrorBody, ScenarioParams, stringMap } from '../schemas.ts';

/** The bytes of each input and output a transcript keeps, unless the template says otherwise. */
export const DEFAULT_RECORD_BYTES = 1024 * 1024;
/** How long a terminal's WebSocket may stay silent before its first (token) frame. */
const FIRST_FRAME_MS = 10_000;

const NO_NUL = '^[^\\x00]*$';
const Service = Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$', description: 'one service of a multi-service scenario; default: the main one' });
const User = Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$', description: 'a user the template allows; default: the template\'s user' });

export const ExecRequest = Type.Object({
  cmd: Type.Array(Type.String({ maxLength: 65536, pattern: NO_NUL }), { minItems: 1, maxItems: ACCESS_LIMITS.argvItems, description: 'argv; no shell unless you run one' }),
  input: Type.Optional(Type.Union([
    Type.String({ description: 'stdin as UTF-8 text' }),
    Type.Object({ base64: Type.String({ pattern: '^[A-Za-z0-9+/]*={0,2}$' }) }, { additionalProperties: false }),
  ])),
  cwd: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, pattern: NO_NUL })),
  // A name that is not one is refused by the schema (propertyNames), before the handler runs.
  env: Type.Optional(stringMap(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,255}$' }), Type.String({ maxLength: 65536, pattern: NO_NUL }), { maxProperties: ACCESS_LIMITS.envItems })),
  user: Type.Optional(User),
  timeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: ACCESS_LIMITS.maxTimeoutSeconds })),
  service: Type.Optional(Service),
}, { additionalProperties: false });

export const ExecResponse = Type.Object({
  exitCode: Type.Union([Type.Integer(), Type.Null()], { description: 'null when the process was killed (timeout) before it exited' }),
  stdout: Type.String(),
  stderr: Type.String(),
  truncated: Type.Object({ stdout: Type.Boolean(), stderr: Type.Boolean() }),
  timedOut: Type.Boolean(),
  durationMs: Type.Integer(),
  seq: Type.Integer({ description: 'the entry\'s position in the scenario\'s transcript' }),
});

const FileQuery = Type.Object({
  path: Type.String({ minLength: 1, maxLength: 4096, pattern: NO_NUL }),
  service: Type.Optional(Service),
  user: Type.Optional(User),
}, { additionalProperties: false });

const ACCESS_CALLERS = ['sat', 'access', 'operator'] as const;
type AccessKind = 'exec' | 'files' | 'terminal';

interface Decided { target: RelayTarget; actor: string; user: string; relay: { svc: string; ctr?: string }; recordBytes: number; sessions: number }

export interface AccessRouteOptions { config: Config; templatesDir: string }

const accessRoutes: FastifyPluginAsyncTypebox<AccessRouteOptions> = async (app, opts) => {
  const relay = new AccessService(opts.config);
  const templates = new Map<string, Template>();
  const templateOf = (state: ScenarioState): Template => {
    const key = `${state.template}@${state.templateVersion}`;
    let t = templates.get(key);
    if (!t) {
      t = loadTemplate({ id: state.template, version: state.templateVersion }, opts.templatesDir);
      templates.set(key, t);
    }
    return t;
  };

  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: ACCESS_LIMITS.fileBytes }, (_req, body, done) => done(null, body));

  // Calls per scenario per minute, across all its callers: one scenario's burst is its own problem.
  // Spent only by a caller whose token names the scenario (or an operator), never before the token
  // is checked: a stranger who knows a scenario's id must not use up its subject's calls. A burst
  // of anything else is the per-client limiter's (api/app.ts), which runs before any token is verified.
  const perScenarioMax = opts.config.accessRateLimitPerMinute;
  const perScenario = app.createRateLimit({ max: perScenarioMax, timeWindow: '1 minute', keyGenerator: (req) => `access:${(req.params as { id: string }).id}` });

  // An exec's output is held here until it is taken, and a file read holds its host's call until
  // then: an answer nobody takes is cut off after the idle time (ARBITER_ACCESS_IDLE_SECONDS).
  const idleMs = opts.config.access.idleSeconds * 1000;
  app.addHook('onSend', cutIfUntaken(idleMs));

  // The calls of each scenario this process is still answering. The host counts a call until it
  // has answered this process, which then holds an exec's output (up to 20 MiB) until the caller
  // takes it: counted here too, unread answers cannot pile up past the limit the host keeps.
  const answering = new Map<string, number>();
  function answerSlot(id: string, answer: ServerResponse): void {
    const n = answering.get(id) ?? 0;
    if (n >= ACCESS_LIMITS.callsInFlight) throw new ArbiterError('too_many_requests', 429, `at most ${ACCESS_LIMITS.callsInFlight} calls at once per scenario, answers not yet taken included`);
    answering.set(id, n + 1);
    answer.once('close', () => {
      const left = (answering.get(id) ?? 1) - 1;
      if (left > 0) answering.set(id, left);
      else answering.delete(id);
    });
  }

  /** Who may do `kind` to scenario `id` now, as which user; throws the contract's error otherwise. */
  async function decide(app: FastifyInstance, request: FastifyRequest, principal: Principal, id: string, kind: AccessKind, ask: { user?: string | undefined; service?: string | undefined }): Promise<Decided> {
    // A token of another scenario answers like a scenario that does not exist.
    if (principal.kind === 'sat' && scenarioIdFromJti(principal.claims.jti) !== id) throw scenarioNotFound(id);
    if (principal.kind === 'access' && principal.scenarioId !== id) throw scenarioNotFound(id);
    const spent = await perScenario(request);
    if (!spent.isAllowed && spent.isExceeded) throw new TooManyRequestsError(`at most ${perScenarioMax} access calls a minute per scenario: retry in ${spent.ttlInSeconds} s`, 'rate_limited', spent.ttlInSeconds);
    const state = await app.scenarios.get(id);
    if ((principal.kind === 'sat' || principal.kind === 'access') && (principal.sub !== state.subject || principal.tenant !== state.tenant)) throw scenarioNotFound(id);
    if (state.status !== 'running' || !state.hostId) throw new ConflictError(`scenario is ${state.status}, not running`, 'not_running');
    const grant = state.access ?? NO_ACCESS;
    if (!grant[kind]) throw new ForbiddenError(`the plan "${state.plan}" does not grant ${kind} access`, 'access_not_granted');
    const template = templateOf(state);
    const services = servicesOf(template);
    const service = ask.service === undefined ? services[0]! : services.find((s) => s.name === ask.service);
    if (!service) throw new BadRequestError(`scenario has no service "${ask.service}" (its services: ${services.map((s) => s.name).join(', ')})`, 'unknown_service');
    const users: Record<string, string> = { ...template.access?.users };
    let user = service.user;
    if (ask.user !== undefined) {
      const mapped = ask.user === service.user ? service.user : users[ask.user];
      if (!mapped) throw new BadRequestError(`user "${ask.user}" is not one template ${template.id}@${template.version} allows in service "${service.name}" (${[service.user, ...Object.keys(users)].join(', ')})`, 'user_not_allowed');
      user = mapped;
    }
    const actor = principal.kind === 'operator' ? `operator:${principal.sub}` : `subject:${(principal as { sub: string }).sub}`;
    const relay = { svc: service.name, ...(service.main ? {} : { ctr: serviceContainerName(id, service) }) };
    return { target: { scenarioId: id, hostId: state.hostId }, actor, user, relay, recordBytes: template.access?.recordBytes ?? DEFAULT_RECORD_BYTES, sessions: grant.terminalSessions };
  }

  app.post('/api/scenarios/:id/exec', {
    config: { auth: ACCESS_CALLERS },
    bodyLimit: 16 * 1024 * 1024,
    schema: {
      params: ScenarioParams,
      body: ExecRequest,
      response: { 200: ExecResponse, 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody },
    },
  }, async (request, reply) => {
    const principal = principalOf(request, ...ACCESS_CALLERS);
    const { id } = request.params;
    const body = request.body;
    // The kernel reads argv, env and paths as C strings: a NUL would silently cut them short.
    const texts = [...body.cmd, body.cwd ?? '', ...Object.values(body.env ?? {})];
    if (texts.some((t) => t.includes('\0'))) throw new BadRequestError('argv, cwd and env values may not contain NUL bytes', 'nul_byte');
    const d = await decide(app, request, principal, id, 'exec', { user: body.user, service: body.service });
    answerSlot(id, reply.raw);
    const input = body.input === undefined ? Buffer.alloc(0) : typeof body.input === 'string' ? Buffer.from(body.input, 'utf8') : Buffer.from(body.input.base64, 'base64');
    if (input.length > ACCESS_LIMITS.inputBytes) throw new ArbiterError('input_too_large', 413, `input is ${input.length} bytes; at most ${ACCESS_LIMITS.inputBytes} may be sent`);
    const argvBytes = body.cmd.reduce((n, a) => n + Buffer.byteLength(a) + 1, 0);
    if (argvBytes > ACCESS_LIMITS.argvBytes) throw new BadRequestError(`argv is ${argvBytes} bytes; at most ${ACCESS_LIMITS.argvBytes}`, 'argv_too_long');
    const answer = await relay.call(d.target, { sub: d.actor, act: 'exec', ...d.relay, user: d.user, rec: d.recordBytes, max: d.sessions }, {
      method: 'POST',
      path: `/v1/scenarios/${id}/exec`,
      contentType: 'application/json',
      body: Buffer.from(JSON.stringify({ cmd: body.cmd, input: input.toString('base64'), cwd: body.cwd, env: body.env, timeoutSeconds: body.timeoutSeconds })),
    });
    const r = JSON.parse(answer.body.toString('utf8')) as { exitCode: number | null; stdout: string; stderr: string; truncated: { stdout: boolean; stderr: boolean }; timedOut: boolean; durationMs: number; seq: number };
    request.log.info({ scenarioId: id, actor: d.actor, seq: r.seq, exitCode: r.exitCode, timedOut: r.timedOut }, 'exec');
    return { ...r, stdout: Buffer.from(r.stdout, 'base64').toString('utf8'), stderr: Buffer.from(r.stderr, 'base64').toString('utf8') };
  });

  app.get('/api/scenarios/:id/files', {
    config: { auth: ACCESS_CALLERS },
    schema: {
      params: ScenarioParams,
      querystring: FileQuery,
      response: {
        200: {
          description: 'the file\'s bytes; X-Arbiter-Seq names its transcript entry',
          content: { 'application/octet-stream': { schema: Type.Unsafe<Buffer | Readable>({ type: 'string', format: 'binary' }) } },
        },
        400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody,
      },
    },
  }, async (request, reply) => {
    const principal = principalOf(request, ...ACCESS_CALLERS);
    const { id } = request.params;
    if (request.query.path.includes('\0')) throw new BadRequestError('a path may not contain NUL bytes', 'nul_byte');
    const d = await decide(app, request, principal, id, 'files', request.query);
    answerSlot(id, reply.raw);
    // Passed on as the host sends it: the host has recorded the read before its first byte.
    const answer = await relay.open(d.target, { sub: d.actor, act: 'files', ...d.relay, user: d.user, rec: d.recordBytes, max: d.sessions }, {
      method: 'GET', path: `/v1/scenarios/${id}/files?path=${encodeURIComponent(request.query.path)}`,
    });
    const seq = String(answer.headers['x-arbiter-seq'] ?? '');
    const length = answer.headers['content-length'];
    request.log.info({ scenarioId: id, actor: d.actor, seq, bytes: length === undefined ? undefined : Number(length) }, 'file read');
    void reply.header('content-type', 'application/octet-stream').header('x-arbiter-seq', seq);
    if (length !== undefined) void reply.header('content-length', length);
    return reply.send(answer);
  });

  // A file's bytes go to the host as they arrive, and on from there into the container, so neither
  // process holds up to 100 MiB per upload. The stream parser is this route's alone: elsewhere here
  // an octet-stream body is still read whole, within its limit.
  await app.register(async (scope) => {
    const files = scope.withTypeProvider<TypeBoxTypeProvider>();
    files.removeContentTypeParser('application/octet-stream');
    files.addContentTypeParser('application/octet-stream', (request, payload, done) => {
      const declared = Number(request.headers['content-length']);
      if (declared > ACCESS_LIMITS.fileBytes) return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), undefined);
      done(null, new UploadStream(payload, { limit: ACCESS_LIMITS.fileBytes, idleMs }));
    });
    // Answered before its last byte was read (refused by the route's schema, by the handler, by
    // the host): the rest is not worth keeping, and the connection cannot carry another request
    // behind it, so it closes after the answer, and what still comes until then is dropped.
    files.addHook('onSend', closeIfUnread);

    files.put('/api/scenarios/:id/files', {
      config: { auth: ACCESS_CALLERS },
      // The limit of a body of another type (refused with 415 once read); the stream counts its own.
      bodyLimit: ACCESS_LIMITS.fileBytes,
      schema: {
        params: ScenarioParams,
        querystring: FileQuery,
        response: { 204: Type.Null({ description: 'written; X-Arbiter-Seq names its transcript entry' }), 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 429: ErrorBody, 503: ErrorBody },
      },
    }, async (request, reply) => {
      const principal = principalOf(request, ...ACCESS_CALLERS);
      const { id } = request.params;
      const body: unknown = request.body;
      if (body !== undefined && !(body instanceof UploadStream)) throw new ArbiterError('unsupported_media_type', 415, 'send the file\'s bytes as application/octet-stream');
      if (request.query.path.includes('\0')) throw new BadRequestError('a path may not contain NUL bytes', 'nul_byte');
      const d = await decide(files, request, principal, id, 'files', request.query);
      answerSlot(id, reply.raw);
      const declared = request.headers['content-length'];
      const answer = await relay.call(d.target, { sub: d.actor, act: 'files', ...d.relay, user: d.user, rec: d.recordBytes, max: d.sessions }, {
        method: 'PUT', path: `/v1/scenarios/${id}/files?path=${encodeURIComponent(request.query.path)}`,
        body: body ?? Buffer.alloc(0),
        ...(body && declared !== undefined ? { length: Number(declared) } : {}),
      });
      const seq = String(answer.headers['x-arbiter-seq'] ?? '');
      request.log.info({ scenarioId: id, actor: d.actor, seq, bytes: body ? body.bytes : 0 }, 'file written');
      return reply.status(204).header('x-arbiter-seq', seq).send(null);
    });
  });

  app.route({
    method: 'GET',
    url: '/api/scenarios/:id/terminal',
    schema: {
      params: ScenarioParams,
      description: 'WebSocket (CONTRACT "Subject access"): the first frame is the text {"token": …}; a plain GET is answered 426',
      response: { 101: Type.Null({ description: 'switched to the WebSocket protocol' }), 426: ErrorBody },
    },
    // Anything but a WebSocket upgrade is told what this route is, in the contract's shape.
    handler: async () => {
      throw new ArbiterError('upgrade_required', 426, 'this route is a WebSocket: open it with an upgrade request and send {"token": …} as the first frame');
    },
    wsHandler: (socket: WebSocket, request) => {
    const { id } = request.params;
    const refuse = (code: number, reason: string) => {
      request.log.info({ scenarioId: id, code, reason }, 'terminal refused');
      if (socket.readyState === socket.OPEN) socket.close(code, reason.slice(0, 120));
    };
    const timer = setTimeout(() => refuse(4401, 'no token frame'), FIRST_FRAME_MS);
    const dim = (v: unknown, f: number) => (typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 1000 ? v : f);
    // Keystrokes typed while the token is checked and the host's end opens wait for it, in order.
    const early: Array<[Buffer, boolean]> = [];
    let earlyBytes = 0;
    let relayTo: WebSocket | undefined;
    let clientClosed = false;
    socket.on('close', () => {
      clientClosed = true;
      relayTo?.close();
    });
    // Keystrokes go on at the host's pace, the TTY's output at the subject's (infra/ws-pacing.ts).
    let toHost: ((data: Buffer | string, binary: boolean) => void) | undefined;
    const forward = (data: Buffer, binary: boolean) => {
      if (!toHost) return;
      if (binary) return toHost(data, true);
      // Only resize messages go on: the host never sees anything else from the subject as control.
      try {
        const resize = (JSON.parse(data.toString('utf8')) as { resize?: { cols?: unknown; rows?: unknown } }).resize;
        if (resize) toHost(JSON.stringify({ resize: { cols: dim(resize.cols, 80), rows: dim(resize.rows, 24) } }), false);
      } catch {
        // not a control message: ignored
      }
    };
    socket.once('message', (first: Buffer, isBinary: boolean) => {
      clearTimeout(timer);
      socket.on('message', (data: Buffer, binary: boolean) => {
        if (relayTo) forward(data, binary);
        else {
          early.push([data, binary]);
          earlyBytes += data.length;
          // Held here until the host's end opens: past PACE_BYTES the subject waits, nothing is dropped.
          if (earlyBytes > PACE_BYTES) socket.pause();
        }
      });
      void (async () => {
        if (isBinary) return refuse(4401, 'the first frame must be the text {"token": …}');
        let hello: { token?: unknown; service?: unknown; user?: unknown; cols?: unknown; rows?: unknown };
        try {
          hello = JSON.parse(first.toString('utf8')) as typeof hello;
        } catch {
          return refuse(4401, 'the first frame is not JSON');
        }
        if (typeof hello?.token !== 'string') return refuse(4401, 'the first frame has no token');
        let d: Decided;
        try {
          const principal = await app.authenticateToken(hello.token, ACCESS_CALLERS, id);
          d = await decide(app, request, principal, id, 'terminal', {
            user: typeof hello.user === 'string' ? hello.user : undefined,
            service: typeof hello.service === 'string' ? hello.service : undefined,
          });
        } catch (err) {
          const status = err instanceof ArbiterError ? err.statusCode : 500;
          const code = err instanceof UnauthorizedError ? 4401 : ({ 403: 4403, 404: 4404, 409: 4409, 429: 4429, 400: 4400 } as Record<number, number>)[status] ?? 4500;
          if (code === 4500) request.log.error({ err }, 'terminal failed');
          return refuse(code, (err as Error).message);
        }
        const host = await relay.terminal(d.target, { sub: d.actor, act: 'terminal', ...d.relay, user: d.user, rec: d.recordBytes, max: d.sessions }, { cols: dim(hello.cols, 80), rows: dim(hello.rows, 24) });
        request.log.info({ scenarioId: id, actor: d.actor }, 'terminal opened');
        // Closing the browser ends the session on the host: its shell is killed and recorded.
        if (clientClosed) host.close();
        const toSubject = pacedSender(socket, host);
        host.on('message', (data: Buffer, binary: boolean) => toSubject(data, binary));
        host.on('close', (code: number, reason: Buffer) => {
          // The host's own codes (4409 scenario ended, 4429 too many sessions) reach the subject as they are.
          if (socket.readyState === socket.OPEN) socket.close(code >= 4000 || code === 1000 ? code : 1011, reason.toString('utf8'));
        });
        host.on('error', (err: Error) => {
          request.log.warn({ scenarioId: id, err: err.message }, 'terminal relay failed');
          if (socket.readyState === socket.OPEN) socket.close(1011, 'the container host cannot be reached');
        });
        const flush = () => {
          toHost = pacedSender(host, socket);
          // Resumed before what it held goes on, which may pause it again (the host's pace).
          socket.resume();
          for (const [data, binary] of early.splice(0)) forward(data, binary);
          relayTo = host;
        };
        if (host.readyState === host.OPEN) flush();
        else host.once('open', flush);
        socket.on('close', () => host.close());
      })();
    });
    },
  });
};
export default accessRoutes;
