import pino from "pino";

/**
 * Structured JSON logs, one line each, written by pino: {"level":"info","time":"<ISO>",...,"msg":"..."}.
 * The level is its name (not pino's number) and the time ISO 8601, as operators and tests read them.
 * Fields whose names are credentials are censored by pino's `redact`, so a token or password cannot
 * reach a log line even by accident.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

/** Field names censored wherever they appear at the top of a line's fields or one object below. */
const SECRET_KEYS = [
  "token",
  "accessToken",
  "refreshToken",
  "access_token",
  "refresh_token",
  "password",
  "newPassword",
  "secret",
  "serviceSecret",
  "authorization",
  "Authorization",
  "cookie",
  "Cookie",
  "set-cookie",
  "connectionParams",
  "databaseUrl",
  "jwtPrivateKey",
];
const dot = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `["${k}"]`);
export const REDACT_PATHS = SECRET_KEYS.flatMap((k) => [dot(k).replace(/^\./, ""), `*${dot(k)}`]);

const STACK_LINES = 6;

/** An Error as a log field: its class, message, code and the top of its stack (no enumerable extras). */
function serializeError(value: unknown): unknown {
  if (!(value instanceof Error)) return value;
  const code = (value as NodeJS.ErrnoException).code;
  return {
    type: value.name,
    message: value.message,
    ...(code !== undefined ? { code } : {}),
    stack: value.stack?.split("\n").slice(0, STACK_LINES).join("\n"),
  };
}

function wrap(p: pino.Logger): Logger {
  return {
    debug: (msg, fields) => (fields ? p.debug(fields, msg) : p.debug(msg)),
    info: (msg, fields) => (fields ? p.info(fields, msg) : p.info(msg)),
    warn: (msg, fields) => (fields ? p.warn(fields, msg) : p.warn(msg)),
    error: (msg, fields) => (fields ? p.error(fields, msg) : p.error(msg)),
    child: (fields) => wrap(p.child(fields)),
  };
}

/**
 * A logger at `level` ("silent" writes nothing). `write` receives each line without its newline
 * (tests capture lines); by default lines go to stdout synchronously, so a line logged just
 * before process.exit is not lost.
 */
export function createLogger(
  level: LogLevel | "silent",
  base: Record<string, unknown> = {},
  write?: (line: string) => void,
): Logger {
  const destination = write
    ? { write: (s: string) => write(s.endsWith("\n") ? s.slice(0, -1) : s) }
    : pino.destination({ dest: 1, sync: true });
  const p = pino(
    {
      level,
      base,
      messageKey: "msg",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: serializeError, error: serializeError, cause: serializeError },
      redact: { paths: REDACT_PATHS, censor: "[redacted]" },
    },
    destination,
  );
  return wrap(p);
}

/** A request's path without its query string (which may hold a legacy token): what routing reads. */
export function routePath(url: string | undefined): string {
  const u = url ?? "/";
  const q = u.indexOf("?");
  return q === -1 ? u : u.slice(0, q);
}

/** A request path fit for a log line: no query string, and at most 256 characters. */
export function loggablePath(url: string | undefined): string {
  return routePath(url).slice(0, 256);
}
