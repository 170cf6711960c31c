import type { FastifyInstance } from 'fastify';

export interface Injected {
  status: number;
  json: Record<string, unknown> | undefined;
}

/**
 * A JSON caller for an in-process app (Fastify's inject): the bearer token and body are optional,
 * and the answer is its status and parsed JSON body, as a client over HTTP would see them.
 */
export function injector(app: () => FastifyInstance) {
  return async (method: 'GET' | 'POST' | 'DELETE', url: string, token?: string, body?: unknown): Promise<Injected> => {
    const r = await app().inject({
      method,
      url,
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    return { status: r.statusCode, json: r.body ? (JSON.parse(r.body) as Record<string, unknown>) : undefined };
  };
}
