/** The CLI's exit codes: a contract CI jobs rely on, listed in every help text. */

export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  conflict: 5,
  server: 6,
  /** Interrupted (Ctrl-C) while following a deployment, as shells report SIGINT. */
  interrupted: 130,
} as const;

export const EXIT_HELP = `Exit codes:
  0  success
  1  the operation failed (deployment ended failed, rolled_back or cancelled; status not healthy with --strict)
  2  bad input or usage (unknown command or flag, HTTP 400, 405, 413 and other 4xx)
  3  not authenticated or not allowed (HTTP 401, 403)
  4  not found (HTTP 404)
  5  conflict (HTTP 409, e.g. a refused promotion)
  6  server or network error (HTTP 5xx, connection refused, timeout)`;

/** An error that ends the run with an exit code, a message and detail lines. */
export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

export const usageError = (message: string, details: readonly string[] = []) =>
  new CliError(EXIT.usage, message, details);

/** The exit code an HTTP error status maps to. */
export function exitCodeForStatus(status: number): number {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  if (status >= 500 || status === 408 || status === 429) return EXIT.server;
  return EXIT.usage;
}
