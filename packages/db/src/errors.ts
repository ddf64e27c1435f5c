/** PostgreSQL error classification, so callers never match on driver error text. */
export function isUniqueViolation(e: unknown, constraint?: string): boolean {
  const err = e as { code?: string; constraint?: string; message?: string } | null;
  if (!err || err.code !== "23505") return false;
  if (!constraint) return true;
  return err.constraint === constraint || (err.message ?? "").includes(constraint);
}

/** Connection-level failures: the database is down or unreachable; the caller may retry. */
export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | null;
  if (!err) return false;
  const code = err.code ?? "";
  if (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "57P01", "57P02", "57P03"].includes(code)) {
    return true;
  }
  if (code.startsWith("08")) return true;
  const msg = err.message ?? "";
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(msg);
}
