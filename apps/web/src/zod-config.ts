import { config } from "zod";

// Imported first, before any schema exists: zod's JIT probes `new Function`, which the server's
// Content-Security-Policy refuses (no 'unsafe-eval'); zod copes, but the browser reports the
// refusal as a violation on every load. The client validates little, so the interpreter will do.
config({ jitless: true });
