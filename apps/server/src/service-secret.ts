import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";

/**
 * How the split roles recognise each other: every call between them (chat to auth's internal
 * routes and tRPC, the gateway's forwarded requests and upgrades) carries SERVICE_SECRET in this
 * header. The gateway drops a client's own value of it before forwarding.
 */
export const SERVICE_SECRET_HEADER = "x-service-secret";

const digest = (value: string) => createHash("sha256").update(value).digest();

/**
 * A check of a request's service secret. Both sides are hashed first so the comparison is
 * constant-time over equal lengths and says nothing about the secret's length either.
 * Without a configured secret (ROLE=all) no request is a service's.
 */
export function serviceSecretCheck(secret: string | undefined): (req: IncomingMessage) => boolean {
  if (secret === undefined) return () => false;
  const expected = digest(secret);
  return (req) => {
    const given = req.headers[SERVICE_SECRET_HEADER];
    return typeof given === "string" && given !== "" && timingSafeEqual(digest(given), expected);
  };
}
