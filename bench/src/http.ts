import http from "node:http";

/**
 * tRPC over plain HTTP, as httpLink sends it without batching: a mutation is a POST of the JSON
 * input to /trpc/<path>, a query a GET with ?input=<JSON>; the answer is {"result":{"data":…}}
 * or {"error":{…}}.
 */
export class TrpcHttp {
  readonly agent: http.Agent;
  private readonly host: string;
  private readonly port: number;

  constructor(
    baseUrl: string,
    sockets = 64,
    private readonly timeoutMs = 60_000,
  ) {
    const u = new URL(baseUrl);
    this.host = u.hostname;
    this.port = Number(u.port);
    // Idle sockets close after 4 s, before the server's 5 s keep-alive timeout would.
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets, timeout: 4000 });
  }

  /**
   * The raw response; rejects on a transport error or a non-200 status. A request on a reused
   * keep-alive socket that the server closed at that moment is retried once (the documented race;
   * room.send carries a clientMsgId, so even a request that did arrive is not stored twice).
   */
  async request(method: "GET" | "POST", path: string, body: string | undefined, token?: string): Promise<string> {
    try {
      return await this.once(method, path, body, token);
    } catch (e) {
      if ((e as { retryable?: boolean }).retryable) return this.once(method, path, body, token);
      throw e;
    }
  }

  private async once(method: "GET" | "POST", path: string, body: string | undefined, token?: string): Promise<string> {
    const res = await this.exchange(method, path, body, token ? { Authorization: `Bearer ${token}` } : {});
    if (res.status === 200) return res.text;
    throw new Error(`HTTP ${res.status} ${path.split("?")[0]}: ${res.text.slice(0, 200)}`);
  }

  /** One request with any headers; resolves with whatever status the server answers. */
  exchange(method: "GET" | "POST", path: string, body: string | undefined, extra: Record<string, string> = {}): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string | number> = { ...extra };
      if (body !== undefined) {
        headers["Content-Type"] = "application/json";
        headers["Content-Length"] = Buffer.byteLength(body);
      }
      const req = http.request({ host: this.host, port: this.port, method, path, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      });
      req.on("error", (err: NodeJS.ErrnoException) => {
        if (req.reusedSocket && err.code === "ECONNRESET") Object.assign(err, { retryable: true });
        reject(err);
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`timeout ${path}`)));
      req.end(body);
    });
  }

  async mutation<T>(path: string, input: unknown, token?: string): Promise<T> {
    const text = await this.request("POST", `/trpc/${path}`, JSON.stringify(input), token);
    return unwrap<T>(text);
  }

  async query<T>(path: string, input: unknown, token?: string): Promise<T> {
    const q = input === undefined ? "" : `?input=${encodeURIComponent(JSON.stringify(input))}`;
    const text = await this.request("GET", `/trpc/${path}${q}`, undefined, token);
    return unwrap<T>(text);
  }

  close(): void {
    this.agent.destroy();
  }
}

function unwrap<T>(text: string): T {
  const body: unknown = JSON.parse(text);
  if (typeof body === "object" && body !== null && "result" in body) {
    const result = (body as { result: unknown }).result;
    if (typeof result === "object" && result !== null && "data" in result) return (result as { data: T }).data;
  }
  throw new Error(`unexpected tRPC answer: ${text.slice(0, 200)}`);
}
