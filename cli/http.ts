// A small client for the Arbiter HTTP API that turns the contract's error body into a message.
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly reasons?: string[]) {
    super(message);
  }
}

export async function api<T>(base: string, method: string, path: string, opts: { token?: string | undefined; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(new URL(path, base), { method, headers, ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ApiError(res.status, 'bad_response', `HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string; reasons?: string[] } } | undefined)?.error;
    throw new ApiError(res.status, e?.code ?? 'http_error', `HTTP ${res.status} ${e?.code ?? ''}: ${e?.message ?? text}`.trim(), e?.reasons);
  }
  return json as T;
}
