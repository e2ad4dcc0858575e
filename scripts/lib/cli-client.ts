/** The CLI's HTTP client: the API root, credentials (never printed), and errors mapped to exit codes. */
import { CliError, EXIT, exitCodeForStatus, usageError } from "./cli-exit.js";

export interface Connection {
  url?: string | undefined;
  token?: string | undefined;
  apiKey?: string | undefined;
  verbose?: boolean | undefined;
}

export interface ApiRequest {
  method: string;
  /** The route's path with its parameters filled in, e.g. `/deployments/dev-1/cancel`. */
  path: string;
  query?: Record<string, unknown>;
  body?: unknown;
  /** Statuses that answer normally instead of failing (e.g. 422 for an infeasible plan). */
  allow?: readonly number[];
}

export interface ApiAnswer {
  status: number;
  contentType: string;
  bytes: Buffer;
  /** The parsed JSON body, or the text when it is not JSON. */
  json: unknown;
}

export interface Client {
  root: string;
  send(request: ApiRequest): Promise<ApiAnswer>;
  /** Sends and answers the parsed JSON body. */
  request(request: ApiRequest): Promise<unknown>;
}

/** The credentials in use: replaced wherever they would show up. */
const secrets: string[] = [];
export function redact(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("[redacted]");
  return out;
}

/** The API root (ending in /api/orchestration) from the flag or the environment. */
export function apiRoot(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const base = flag ?? env.ORCH_URL ?? env.ORCH_API_URL ?? "http://127.0.0.1:5000";
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw usageError(`--url ${JSON.stringify(base)} is not a URL, e.g. http://127.0.0.1:5000`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw usageError(`--url must be http or https, not ${url.protocol}`);
  const trimmed = url.href.replace(/[?#].*$/, "").replace(/\/+$/, "");
  return trimmed.endsWith("/api/orchestration") ? trimmed : `${trimmed}/api/orchestration`;
}

interface ErrorBody {
  error?: { message?: unknown; code?: unknown; problems?: unknown } | string;
  message?: unknown;
}

/** The CliError for an answer that failed: status, code, message and each problem on its own line. */
export function errorFromAnswer(status: number, body: unknown, what: string): CliError {
  const parsed = typeof body === "object" && body !== null ? (body as ErrorBody) : {};
  const error = typeof parsed.error === "object" ? parsed.error : undefined;
  const message =
    typeof error?.message === "string"
      ? error.message
      : typeof parsed.message === "string"
        ? parsed.message
        : typeof body === "string" && body.trim().length > 0
          ? body.trim().slice(0, 300)
          : "no details";
  const code =
    typeof error?.code === "string"
      ? ` ${error.code}`
      : typeof parsed.error === "string"
        ? ` ${parsed.error}`
        : "";
  const problems = Array.isArray(error?.problems) ? (error.problems as Record<string, unknown>[]) : [];
  const details = problems.map((problem) => {
    const path = typeof problem.path === "string" ? problem.path : "$";
    const text =
      typeof problem.message === "string"
        ? problem.message
        : `found ${String(problem.found)}; allowed: ${String(problem.allowed)}`;
    return redact(text.startsWith(`${path}:`) ? text : `${path}: ${text}`);
  });
  return new CliError(
    exitCodeForStatus(status),
    redact(`${what} answered ${status}${code}: ${message}`),
    details,
  );
}

/** No answer within this long is a network error (exit 6). */
const REQUEST_TIMEOUT_MS = 60_000;

export function createClient(connection: Connection): Client {
  const root = apiRoot(connection.url);
  const token = connection.token ?? process.env.ORCH_TOKEN;
  const apiKey = connection.apiKey ?? process.env.ORCH_API_KEY;
  for (const secret of [token, apiKey]) if (secret) secrets.push(secret);
  const verbose = (line: string) => {
    if (connection.verbose) process.stderr.write(`${redact(line)}\n`);
  };

  async function send({ method, path, query, body, allow = [] }: ApiRequest): Promise<ApiAnswer> {
    const url = new URL(`${root}${path}`);
    for (const [key, value] of Object.entries(query ?? {}))
      if (value !== undefined && value !== null)
        url.searchParams.set(key, typeof value === "string" ? value : JSON.stringify(value));
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    if (apiKey) headers["x-api-key"] = apiKey;
    verbose(`> ${method} ${url.href}`);
    for (const [name, value] of Object.entries(headers))
      verbose(
        `> ${name}: ${name === "authorization" ? "Bearer [redacted]" : name === "x-api-key" ? "[redacted]" : value}`,
      );
    const started = Date.now();
    let response: Response;
    let bytes: Buffer;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(body !== undefined && { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      bytes = Buffer.from(await response.arrayBuffer());
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new CliError(EXIT.server, redact(`cannot reach ${root} (${method} ${path}): ${reason}`));
    }
    verbose(`< ${response.status} ${response.statusText} (${Date.now() - started} ms)`);
    const contentType = response.headers.get("content-type") ?? "";
    const text = bytes.toString("utf8");
    let json: unknown = text;
    try {
      json = text.length > 0 ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      // Not JSON (a document, or a proxy's error page): the text stays for the caller or the message.
    }
    if (!response.ok && !allow.includes(response.status))
      throw errorFromAnswer(response.status, json, `${method} ${path}`);
    return { status: response.status, contentType, bytes, json };
  }

  return { root, send, request: async (request) => (await send(request)).json };
}
