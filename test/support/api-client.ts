/** What a client of the HTTP API sees of an answer: its status and its JSON body, if any. */
export interface Http {
  status: number;
  json: Record<string, unknown> | undefined;
}

/**
 * A JSON client of the API over loopback, as a subject's or operator's tool uses it: a bearer
 * token, an optional JSON body. `base` is read at each call, so a test that restarts the API on
 * another port keeps its client.
 */
export function apiClient(base: () => string) {
  return async (method: string, path: string, token: string, body?: unknown): Promise<Http> => {
    const res = await fetch(`${base()}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
}
