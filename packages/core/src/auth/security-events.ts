/**
 * What auth reports for the security log. Never a token, a password or an email address: the
 * server writes these as structured log lines.
 */
export type AuthSecurityEvent =
  /** A login refused because its failure budget (per email and IP, or per IP) is spent. */
  | { type: "login_locked"; scope: "email_ip" | "ip"; ip: string; emailTag: string; retryAfter: number }
  /** A registration refused because its address has used up REGISTRATIONS_PER_IP. */
  | { type: "registration_limited"; ip: string; retryAfter: number };
// Refresh-token reuse and grace presentations are SessionEvents (session-events.ts).
