import { generateKeyPairSync, createSign } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { Message } from "@anonchat/shared";
import { DB_KIND, httpClient, liveClient, registerUser, waitFor } from "./harness.js";
import { expectRebindingRefused, rawStatus, upgradeStatus } from "./helpers/origin.js";
import { startSplit, type SplitDeployment } from "./split-harness.js";

// gateway + auth + two chat replicas as separate processes on one PostgreSQL.
describe.runIf(DB_KIND === "postgres")("split deployment", () => {
  let d: SplitDeployment;
  beforeAll(async () => {
    d = await startSplit();
  }, 180_000);
  afterAll(async () => {
    await d?.stop();
  });

  it("serves tRPC and /api/v1 through the gateway", async () => {
    const alice = await registerUser(d.url, "sa");
    expect(await alice.client.auth.me.query()).toEqual(alice.session.user);
    const room = await alice.client.room.create.mutate({ name: "split", maxMembers: 3 });
    const sent = await alice.client.room.send.mutate({ roomId: room.id, text: "hi", clientMsgId: "x1" });
    expect((await alice.client.room.history.query({ roomId: room.id })).messages).toEqual([sent]);
    const status = await fetch(`${d.url}/api/v1/status`);
    expect(await status.json()).toEqual({ status: "success", message: "AnonChat is running", data: null });
    const validate = await fetch(`${d.url}/api/v1/auth/validate`, { headers: { Authorization: `Bearer ${alice.session.accessToken}` } });
    expect(((await validate.json()) as { data: unknown }).data).toEqual(alice.session.user);
  });

  it("refuses a bad token at the gateway, on tRPC, REST and the legacy socket", async () => {
    const bad = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln";
    await expect(httpClient(d.url, bad).room.list.query()).rejects.toMatchObject({ data: { code: "UNAUTHORIZED" } });
    const res = await fetch(`${d.url}/api/v1/auth/validate`, { headers: { Authorization: `Bearer ${bad}` } });
    expect(res.status).toBe(401);
    const frames: string[] = [];
    const code = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${d.wsUrl}/api/v1/rooms/ws?room=AAAAAAAAAAAAAAAA&token=${bad}`);
      ws.on("message", (m) => frames.push(m.toString()));
      ws.on("close", (c) => resolve(c));
    });
    expect(frames).toEqual(["error.token"]);
    expect(code).toBe(4401);
  });

  it("delivers messages sent through either replica to subscribers on both, in order", async () => {
    const alice = await registerUser(d.url, "sb");
    const bob = await registerUser(d.url, "sc");
    const room = await alice.client.room.create.mutate({ name: "fanout", maxMembers: 5 });
    await bob.client.room.join.mutate({ roomId: room.id });
    // Four subscriptions; the gateway spreads their sockets over the replicas round robin.
    const got: Message[][] = [];
    const lives = [alice, bob, alice, bob].map((u, i) => {
      const live = liveClient(d.url, u.session);
      got[i] = [];
      // Chat messages only (seq 1 is bob's join).
      live.client.room.onMessage.subscribe(
        { roomId: room.id, lastEventId: "0" },
        { onData: ({ data }) => data.type === "message" && data.message.kind === "text" && got[i]?.push(data.message) },
      );
      return live;
    });
    for (let i = 0; i < 30; i++) await (i % 2 ? bob : alice).client.room.send.mutate({ roomId: room.id, text: `m${i}` });
    await waitFor(() => got.every((g) => g.length >= 30), 15_000, "delivery on every replica");
    for (const g of got) expect(g.map((m) => m.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 2));
    lives.forEach((l) => l.close());
  });

  it("holds the member limit when 50 joins race across both replicas", async () => {
    const owner = await registerUser(d.url, "sd");
    const room = await owner.client.room.create.mutate({ name: "race", maxMembers: 10 });
    const users = await Promise.all(Array.from({ length: 50 }, (_, i) => registerUser(d.url, `j${i}`)));
    const results = await Promise.allSettled(users.map((u) => u.client.room.join.mutate({ roomId: room.id })));
    expect(results.filter((r) => r.status === "fulfilled").length).toBe(9);
    for (const r of results) {
      if (r.status === "rejected") expect(r.reason).toMatchObject({ message: "room is full", data: { code: "FORBIDDEN" } });
    }
    expect((await owner.client.room.get.query({ roomId: room.id })).memberCount).toBe(10);
  });

  it("refuses a token signed by anyone but auth: at the gateway, at a chat replica, at auth", async () => {
    const u = await registerUser(d.url, "se");
    const [h, p] = u.session.accessToken.split(".") as [string, string];
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const forged = `${h}.${p}.${createSign("RSA-SHA256").update(`${h}.${p}`).sign(other.privateKey).toString("base64url")}`;
    const direct = (name: string) => `http://127.0.0.1:${d.procs.get(name)?.port}`;
    for (const base of [d.url, direct("chat1"), direct("chat2")]) {
      await expect(httpClient(base, forged).room.list.query()).rejects.toMatchObject({ data: { code: "UNAUTHORIZED" } });
      expect(await httpClient(base, u.session.accessToken).room.list.query()).toEqual([]);
    }
    for (const base of [d.url, direct("auth")]) {
      await expect(httpClient(base, forged).auth.me.query()).rejects.toMatchObject({ data: { code: "UNAUTHORIZED" } });
    }
    const legacy = await fetch(`${direct("chat1")}/api/v1/auth/validate`, { headers: { Authorization: `Bearer ${forged}` } });
    expect(legacy.status).toBe(401);
  });

  it("answers auth's internal look-ups only to a caller with the service secret, and says nothing else", async () => {
    const u = await registerUser(d.url, "si");
    const payload = JSON.parse(Buffer.from(u.session.accessToken.split(".")[1] as string, "base64url").toString()) as { sid: string };
    const auth = `http://127.0.0.1:${d.procs.get("auth")?.port}`;
    const userPath = `/internal/users/${u.session.user.id}`;
    const sessionPath = `/internal/sessions/${payload.sid}`;
    const wrong: Record<string, string>[] = [{}, { "X-Service-Secret": "" }, { "X-Service-Secret": "f".repeat(64) }, { "X-Service-Secret": d.serviceSecret.slice(1) }];
    for (const path of [userPath, sessionPath, `/internal/users/1`, `/internal/sessions/${"0".repeat(32)}`, "/internal/nothing"]) {
      for (const headers of wrong) {
        const res = await fetch(`${auth}${path}`, { headers });
        const text = await res.text();
        expect(res.status, `${path} with ${JSON.stringify(headers)}`).toBe(401);
        expect(JSON.parse(text)).toEqual({ error: "unauthorized" });
        expect(text).not.toContain(u.session.user.email);
      }
    }
    const right = { "X-Service-Secret": d.serviceSecret };
    const user = await fetch(`${auth}${userPath}`, { headers: right });
    expect([user.status, await user.json()]).toEqual([200, u.session.user]);
    const session = await fetch(`${auth}${sessionPath}`, { headers: right });
    expect([session.status, await session.json()]).toEqual([200, { active: true }]);
    // The gateway routes no /internal path, whatever the client sends.
    expect((await fetch(`${d.url}${userPath}`, { headers: right })).status).toBe(404);
  });

  it("believes X-Forwarded-For at a service only from a caller with the service secret", async () => {
    const auth = `http://127.0.0.1:${d.procs.get("auth")?.port}`;
    // LOGIN_FAILS_PER_EMAIL_IP is 10: eleven failures for one email from "eleven addresses".
    const failLogins = async (email: string, headers: (i: number) => Record<string, string>) => {
      const codes: string[] = [];
      for (let i = 0; i < 11; i++) {
        const res = await fetch(`${auth}/trpc/auth.login`, {
          method: "POST",
          headers: { "Content-Type": "application/json", ...headers(i) },
          body: JSON.stringify({ email, password: "not the password" }),
        });
        codes.push(((await res.json()) as { error: { data: { code: string } } }).error.data.code);
      }
      return codes;
    };
    const spoofer = await registerUser(d.url, "sj");
    // Without the secret the header is ignored: every try counts against this caller's own address.
    const spoofed = await failLogins(spoofer.session.user.email, (i) => ({ "X-Forwarded-For": `203.0.113.${i + 1}` }));
    expect(spoofed.at(-1)).toBe("TOO_MANY_REQUESTS");
    // With it (as the gateway and chat send it), each try counts against the address passed on.
    const proxied = await registerUser(d.url, "sk");
    const forwarded = await failLogins(proxied.session.user.email, (i) => ({
      "X-Forwarded-For": `198.51.100.${i + 1}`,
      "X-Service-Secret": d.serviceSecret,
    }));
    expect(forwarded).toEqual(Array.from({ length: 11 }, () => "UNAUTHORIZED"));
  });

  it("the gateway applies the origin policy; the services behind it judge only what reaches them directly", async () => {
    const u = await registerUser(d.url, "so");
    const room = await u.client.room.create.mutate({ name: "origins", maxMembers: 3 });
    const auth = { Authorization: `Bearer ${u.session.accessToken}` };
    const legacyPath = `/api/v1/rooms/ws?room=${room.id}&token=${u.session.accessToken}`;
    // The web client on the gateway's own (default loopback) origin reaches auth and chat alike.
    const page = `http://localhost:${new URL(d.url).port}`;
    for (const path of ["/trpc/auth.me", "/trpc/room.list", "/api/v1/status"]) {
      const res = await fetch(`${d.url}${path}`, { headers: { ...auth, Origin: page } });
      expect(res.status, path).toBe(200);
      expect(res.headers.get("access-control-allow-origin"), path).toBe(page);
    }
    expect(await upgradeStatus(`${d.wsUrl}/trpc`, { Origin: page })).toBe(101);
    expect(await upgradeStatus(`${d.wsUrl}${legacyPath}`, { Origin: page })).toBe(101);
    await expectRebindingRefused(d.url);
    // A page rebound onto a replica's port gets no further than onto the gateway's.
    const chat1 = `http://127.0.0.1:${d.procs.get("chat1")?.port}`;
    await expectRebindingRefused(chat1);
    expect(await rawStatus(chat1, "GET", "/trpc/room.list", { ...auth, Origin: page })).toBe(403);
    expect(await upgradeStatus(`${chat1.replace(/^http/, "ws")}${legacyPath}`, { Origin: page })).toBe(403);
  });

  it("loses and doubles nothing when a chat replica is killed with SIGKILL mid-conversation", async () => {
    const alice = await registerUser(d.url, "sf");
    const bob = await registerUser(d.url, "sg");
    const room = await alice.client.room.create.mutate({ name: "kill", maxMembers: 5 });
    await bob.client.room.join.mutate({ roomId: room.id });
    const received: Message[][] = [[], [], [], []];
    const lives = [alice, bob, alice, bob].map((u, i) => {
      const live = liveClient(d.url, u.session);
      live.client.room.onMessage.subscribe(
        { roomId: room.id, lastEventId: "0" },
        // Chat messages only (seq 1 is bob's join).
        { onData: ({ data }) => data.type === "message" && data.message.kind === "text" && received[i]?.push(data.message) },
      );
      return live;
    });

    // A sender that retries each message with its clientMsgId until acknowledged.
    const acked: Message[] = [];
    let attempts = 0;
    const sendAcked = async (i: number) => {
      for (;;) {
        attempts++;
        try {
          acked.push(await alice.client.room.send.mutate({ roomId: room.id, text: `k${i}`, clientMsgId: `k${i}` }));
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    };
    for (let i = 0; i < 20; i++) await sendAcked(i);
    await d.kill("chat1", "SIGKILL");
    for (let i = 20; i < 60; i++) await sendAcked(i);

    const ackedSeqs = [...new Set(acked.map((m) => m.seq))].sort((a, b) => a - b);
    expect(ackedSeqs.length).toBe(60);
    await waitFor(() => received.every((r) => r.length >= 60), 30_000, "every subscriber catches up after the kill");
    for (const r of received) expect(r.map((m) => m.seq)).toEqual(ackedSeqs);
    const history = await bob.client.room.history.query({ roomId: room.id, limit: 100 });
    expect(history.messages.filter((m) => m.kind === "text").map((m) => m.text)).toEqual(Array.from({ length: 60 }, (_, i) => `k${i}`));
    expect(attempts).toBeGreaterThanOrEqual(60);
    lives.forEach((l) => l.close());
    await d.restart("chat1");
  });
});
