import type { AuthSecurityEvent, SessionEvent } from "@anonchat/core";
import type { Logger } from "./logger.js";

/** How often one kind of refusal for one client is written while it repeats. */
const SAMPLE_MS = 10_000;
const MAX_TRACKED = 10_000;

/**
 * Security events as structured log lines (event, and who: IP, user, session; never a token,
 * password or email). Refusals that an abusive client repeats thousands of times are sampled:
 * the first is written at once, then at most one line per kind and client every 10 s, carrying
 * how many were left out.
 */
export class SecurityLog {
  private readonly seen = new Map<string, { until: number; suppressed: number }>();

  constructor(private readonly log: Logger) {}

  /** A rate limit or cap refused a request (sampled per scope and client). */
  refused(scope: string, fields: { ip?: string; userId?: number | null; requestId?: string; status?: number }): void {
    this.sampled(`${scope}\u0000${fields.userId ?? fields.ip ?? ""}`, () => ({ msg: "rate limit refused", scope, ...fields }));
  }

  /** A socket closed by the server for a limit or a policy (not for a normal end). */
  socketClosed(fields: { protocol: "trpc" | "legacy"; code: number; reason: string; ip?: string; userId?: number; requestId?: string }): void {
    // Sampled per protocol, code and client: one user's reconnect loop is a line per 10 s, not 90.
    this.sampled(`closed\u0000${fields.protocol}\u0000${fields.code}\u0000${fields.userId ?? fields.ip ?? ""}`, () => ({
      msg: "socket closed by server",
      ...fields,
    }));
  }

  /** A WebSocket upgrade answered with an HTTP error instead of a socket (sampled per status and IP). */
  upgradeRefused(fields: { status: number; reason: string; ip: string; path: string; requestId: string }): void {
    this.sampled(`upgrade\u0000${fields.status}\u0000${fields.ip}`, () => ({ msg: "upgrade refused", ...fields }));
  }

  /** Login lockouts (sampled per scope, IP and account). */
  auth(e: AuthSecurityEvent): void {
    if (e.type === "registration_limited") {
      this.sampled(`registration\u0000${e.ip}`, () => ({ msg: "registration limit refused", ...e }));
      return;
    }
    this.sampled(`login\u0000${e.scope}\u0000${e.ip}\u0000${e.emailTag}`, () => ({ msg: "login locked out", ...e }));
  }

  /** Refresh-token reuse and grace presentations; the session id lets an operator follow a family. */
  session(e: SessionEvent): void {
    const fields = { security: true, sessionId: e.sessionId, userId: e.userId };
    if (e.type === "refresh_grace") this.log.info("refresh token presented again within the grace; same successor returned", fields);
    else if (e.familyRevoked) this.log.warn("refresh token reused; family revoked", fields);
    else this.log.warn("refresh token of a revoked session presented", fields);
  }

  private sampled(key: string, line: () => Record<string, unknown> & { msg: string }): void {
    const now = Date.now();
    const entry = this.seen.get(key);
    if (entry && entry.until > now) {
      entry.suppressed++;
      return;
    }
    if (this.seen.size >= MAX_TRACKED) {
      for (const [k, v] of this.seen) if (v.until <= now) this.seen.delete(k);
      if (this.seen.size >= MAX_TRACKED) this.seen.clear();
    }
    const { msg, ...fields } = line();
    this.log.warn(msg, { security: true, ...fields, ...(entry?.suppressed ? { suppressed: entry.suppressed } : {}) });
    this.seen.set(key, { until: now + SAMPLE_MS, suppressed: 0 });
  }
}
