// The API contract ("API semantics" in voidphone-gossip.md), one test per rule, against a real
// ApiServer on 127.0.0.1:0 and real module connections.

import { afterEach, describe, expect, test } from "bun:test";
import { ApiClient } from "../../src/net/api-client.ts";
import { ApiServer, type ApiServerOptions } from "../../src/node/api-server.ts";
import type { Verdict } from "../../src/node/verdicts.ts";
import { memoryLogger } from "../../src/util/log.ts";
import type { Notification } from "../../src/wire/api.ts";
import { fromHex } from "../../src/wire/bytes.ts";
import { until } from "../helpers/testnet.ts";

const T = 540;
const U = 541;
const bytes = (hex: string) => fromHex(hex);

type Reply = "valid" | "invalid" | "none";

/** A module on the API: records notifications and answers them as `reply` says. */
export class Module {
  client!: ApiClient;
  readonly notes: Notification[] = [];
  constructor(public reply: Reply) {}

  static async open(server: ApiServer, reply: Reply = "valid"): Promise<Module> {
    const m = new Module(reply);
    m.client = await ApiClient.connect("127.0.0.1", server.port, {
      onFrame: (f) => {
        if (!("msg" in f) || f.msg.kind !== "notification") return;
        m.notes.push({ ...f.msg, data: f.msg.data.slice() });
        if (m.reply !== "none") m.client.validate(f.msg.id, m.reply === "valid");
      },
    });
    return m;
  }

  of(type: number): Notification[] {
    return this.notes.filter((n) => n.dataType === type);
  }
}

export async function within<V>(p: Promise<V>, ms: number, what: string): Promise<V> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

let server: ApiServer;
let lines: string[] = [];
let modules: Module[] = [];
let barrierType = 60000;

function start(opts: Partial<ApiServerOptions> = {}): ApiServer {
  const mem = memoryLogger("debug");
  lines = mem.lines;
  server = new ApiServer({
    address: { host: "127.0.0.1", port: 0 },
    validationTimeoutMs: 2000,
    maxPending: 256,
    maxConnections: 64,
    sendBufferBytes: 1 << 20,
    log: mem.log,
    ...opts,
  });
  return server;
}

async function mod(reply: Reply = "valid"): Promise<Module> {
  const m = await Module.open(server, reply);
  modules.push(m);
  return m;
}

/** Subscribes `m` to `type` and waits until the server counts `expected` subscribers of it. */
async function subscribe(m: Module, type: number, expected: number): Promise<void> {
  m.client.notify(type);
  await m.client.flushed();
  await until(() => server.subscriberCount(type) === expected, 2000, `${expected} subscriber(s) of ${type}`);
}

/**
 * Proves everything the server sent `m` before now has arrived: notifies `m` alone on a fresh
 * type and waits for it (TCP keeps order). The barrier notification is removed from m.notes.
 */
async function barrier(m: Module): Promise<void> {
  const type = barrierType++;
  await subscribe(m, type, 1);
  const verdict = server.validate(type, bytes("ba"));
  await until(() => m.of(type).length === 1, 2000, "barrier notification");
  m.notes.splice(m.notes.findIndex((n) => n.dataType === type), 1);
  if (m.reply === "valid") expect(await verdict).toBe("valid");
}

const logged = (re: RegExp) => lines.filter((l) => re.test(l));
async function waitLog(re: RegExp, what: string): Promise<string> {
  await until(() => logged(re).length > 0, 2000, what);
  return logged(re)[0]!;
}

afterEach(() => {
  for (const m of modules) m.client.close();
  modules = [];
  server?.stop();
});

describe("NOTIFY", () => {
  test("NOTIFY subscribes this API connection to a data type", async () => {
    start();
    const m = await mod();
    expect(server.subscriberCount(T)).toBe(0);
    await subscribe(m, T, 1);
    expect(await server.validate(T, bytes("01"))).toBe("valid");
    expect(m.of(T).map((n) => n.data)).toEqual([bytes("01")]);
  });

  test("a repeated NOTIFY is harmless: one notification, not two", async () => {
    start();
    const m = await mod();
    m.client.notify(T);
    m.client.notify(T);
    m.client.notify(T);
    await subscribe(m, U, 1); // processed after the three NOTIFYs for T
    expect(server.subscriberCount(T)).toBe(1);
    expect(await server.validate(T, bytes("02"))).toBe("valid");
    await barrier(m);
    expect(m.of(T).length).toBe(1);
  });

  test("one connection may subscribe to several data types", async () => {
    start();
    const m = await mod();
    await subscribe(m, T, 1);
    await subscribe(m, U, 1);
    expect(await server.validate(T, bytes("0a"))).toBe("valid");
    expect(await server.validate(U, bytes("0b"))).toBe("valid");
    expect(m.notes.map((n) => [n.dataType, n.data])).toEqual([
      [T, bytes("0a")],
      [U, bytes("0b")],
    ]);
  });

  test("several connections may subscribe to the same data type", async () => {
    start();
    const [a, b, c] = [await mod(), await mod(), await mod()];
    await subscribe(a, T, 1);
    await subscribe(b, T, 2);
    await subscribe(c, T, 3);
    expect(await server.validate(T, bytes("0c"))).toBe("valid");
    for (const m of [a, b, c]) expect(m.of(T).length).toBe(1);
  });

  test("subscriptions end when the connection closes", async () => {
    start();
    const [a, b] = [await mod(), await mod()];
    await subscribe(a, T, 1);
    await subscribe(a, U, 1);
    await subscribe(b, T, 2);
    a.client.close();
    await until(() => server.subscriberCount(T) === 1 && server.subscriberCount(U) === 0, 2000, "a's subscriptions gone");
    expect(server.connectionCount).toBe(1);
    expect(await server.validate(U, bytes("01"))).toBe("unsubscribed");
    expect(await server.validate(T, bytes("02"))).toBe("valid");
    expect(b.of(T).length).toBe(1);
  });
});

describe("NOTIFICATION and VALIDATION (items from peers)", () => {
  test("an item is notified to every subscriber with the same id and data", async () => {
    start();
    const [a, b] = [await mod(), await mod()];
    await subscribe(a, T, 1);
    await subscribe(b, T, 2);
    const data = bytes("deadbeef00ff");
    expect(await server.validate(T, data)).toBe("valid");
    expect(a.of(T).length).toBe(1);
    expect(b.of(T).length).toBe(1);
    expect(a.of(T)[0]!.id).toBe(b.of(T)[0]!.id);
    expect(a.of(T)[0]!.data).toEqual(data);
    expect(b.of(T)[0]!.data).toEqual(data);
  });

  test("the verdict is valid only after every notified subscriber answered valid", async () => {
    start();
    const [a, b] = [await mod("valid"), await mod("none")];
    await subscribe(a, T, 1);
    await subscribe(b, T, 2);
    let verdict: Verdict | null = null;
    void server.validate(T, bytes("aa")).then((v) => (verdict = v));
    await until(() => b.of(T).length === 1, 2000, "b notified");
    await barrier(a); // a's answer has been read by the server
    expect(verdict).toBeNull();
    b.client.validate(b.of(T)[0]!.id, true);
    await until(() => verdict !== null, 2000, "verdict");
    expect(verdict as Verdict | null).toBe("valid");
  });

  test("any invalid verdict: the item is invalid", async () => {
    start();
    const [a, b] = [await mod("valid"), await mod("invalid")];
    await subscribe(a, T, 1);
    await subscribe(b, T, 2);
    expect(await server.validate(T, bytes("bb"))).toBe("invalid");
  });

  test("no verdict within the validation timeout: timeout", async () => {
    start({ validationTimeoutMs: 200 });
    const [a, b] = [await mod("valid"), await mod("none")];
    await subscribe(a, T, 1);
    await subscribe(b, T, 2);
    const t0 = performance.now();
    expect(await server.validate(T, bytes("cc"))).toBe("timeout");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    expect(server.pendingCount).toBe(0);
  });

  test("a subscriber that disconnects while pending no longer counts: valid if the rest said valid", async () => {
    start();
    const [a, b] = [await mod("valid"), await mod("none")];
    await subscribe(a, T, 1);
    await subscribe(b, T, 2);
    const verdict = server.validate(T, bytes("dd"));
    await until(() => b.of(T).length === 1, 2000, "b notified");
    b.client.close();
    expect(await within(verdict, 2000, "verdict")).toBe("valid");
  });

  test("a subscriber that disconnects while pending, none left: abandoned (dropped)", async () => {
    start();
    const b = await mod("none");
    await subscribe(b, T, 1);
    const verdict = server.validate(T, bytes("ee"));
    await until(() => b.of(T).length === 1, 2000, "b notified");
    b.client.close();
    expect(await within(verdict, 2000, "verdict")).toBe("abandoned");
    expect(server.pendingCount).toBe(0);
  });

  test("an item of a type nobody subscribed to: unsubscribed, nobody notified", async () => {
    start();
    const a = await mod();
    await subscribe(a, U, 1);
    expect(await server.validate(T, bytes("ff"))).toBe("unsubscribed");
    await barrier(a);
    expect(a.notes).toEqual([]);
  });

  test("message ids are unique among pending validations", async () => {
    start();
    const [a, b] = [await mod("none"), await mod("none")];
    await subscribe(a, T, 1);
    await subscribe(b, T, 2);
    const verdicts = Array.from({ length: 20 }, (_, i) => server.validate(T, new Uint8Array([i])));
    await until(() => a.notes.length === 20 && b.notes.length === 20, 2000, "20 notifications each");
    const ids = a.notes.map((n) => n.id);
    expect(new Set(ids).size).toBe(20);
    // Each item has one id, shared by every subscriber it was shown to.
    expect(b.notes.map((n) => [n.id, n.data[0]])).toEqual(a.notes.map((n) => [n.id, n.data[0]]));
    for (const m of [a, b]) for (const n of m.notes) m.client.validate(n.id, true);
    expect(await Promise.all(verdicts)).toEqual(Array(20).fill("valid"));
  });

  test("a VALIDATION with an unknown id is ignored and logged; the connection stays open", async () => {
    start();
    const a = await mod();
    await subscribe(a, T, 1);
    a.client.validate(4242, true);
    expect(await waitLog(/validation ignored .*id=4242 .*why=unknown-id/, "log line")).toContain("INFO");
    expect(a.client.closed).toBe(false);
    expect(await server.validate(T, bytes("01"))).toBe("valid");
  });

  test("an already-answered VALIDATION is ignored and logged, and changes nothing", async () => {
    start();
    const [a, b] = [await mod("none"), await mod("none")];
    await subscribe(a, T, 1);
    await subscribe(b, T, 2);
    let verdict: Verdict | null = null;
    void server.validate(T, bytes("02")).then((v) => (verdict = v));
    await until(() => a.notes.length === 1 && b.notes.length === 1, 2000, "notified");
    const id = a.notes[0]!.id;
    a.client.validate(id, true);
    a.client.validate(id, false); // already answered: must not turn the item invalid
    await waitLog(new RegExp(`validation ignored .*id=${id} .*why=already-answered`), "log line");
    expect(verdict).toBeNull();
    b.client.validate(id, true);
    await until(() => verdict !== null, 2000, "verdict");
    expect(verdict as Verdict | null).toBe("valid");
    expect(a.client.closed || b.client.closed).toBe(false);
  });

  test("a VALIDATION from a connection that was not notified is ignored and logged", async () => {
    start();
    const [a, c] = [await mod("none"), await mod()];
    await subscribe(a, T, 1);
    const verdict = server.validate(T, bytes("03"));
    await until(() => a.notes.length === 1, 2000, "notified");
    c.client.validate(a.notes[0]!.id, false);
    await waitLog(/validation ignored .*why=not-asked/, "log line");
    a.client.validate(a.notes[0]!.id, true);
    expect(await verdict).toBe("valid");
    expect(c.client.closed).toBe(false);
  });

  test("more pending validations than max_pending_validations: overloaded (dropped, logged)", async () => {
    start({ maxPending: 2 });
    const a = await mod("none");
    await subscribe(a, T, 1);
    const first = [server.validate(T, bytes("01")), server.validate(T, bytes("02"))];
    expect(await server.validate(T, bytes("03"))).toBe("overloaded");
    await waitLog(/too many verdicts pending/, "log line");
    await until(() => a.notes.length === 2, 2000, "two notifications");
    for (const n of a.notes) a.client.validate(n.id, true);
    expect(await Promise.all(first)).toEqual(["valid", "valid"]);
    // Slots are free again.
    a.reply = "valid";
    expect(await server.validate(T, bytes("04"))).toBe("valid");
  });
});
