// The API contract ("API semantics" in voidphone-gossip.md), one test per rule, against a real
// ApiServer on 127.0.0.1:0 and real module connections (ApiClient).

import { afterEach, describe, expect, test } from "bun:test";
import { ApiClient } from "../../src/net/api-client.ts";
import { ApiServer, type ApiServerOptions } from "../../src/node/api-server.ts";
import type { Verdict } from "../../src/node/verdicts.ts";
import { memoryLogger } from "../../src/util/log.ts";
import { fromHex as hex } from "../../src/wire/bytes.ts";
import { Subscriber, until, verdictOf } from "../helpers/testnet.ts";

const T = 540;
const U = 541;
type Reply = "valid" | "invalid" | "none";

let server: ApiServer;
let lines: string[] = [];
let modules: Subscriber[] = [];
let barrierType = 60000;

function start(opts: Partial<ApiServerOptions> = {}): ApiServer {
  const mem = memoryLogger("debug");
  lines = mem.lines;
  server = new ApiServer({
    address: { host: "127.0.0.1", port: 0 },
    ...{ validationTimeoutMs: 2000, maxPending: 256, maxConnections: 64, sendBufferBytes: 1 << 20 },
    log: mem.log,
    ...opts,
  });
  return server;
}

/** A module connection that records notifications and answers them as `reply` says. */
async function mod(reply: Reply = "valid"): Promise<Subscriber> {
  const m = new Subscriber(reply);
  m.client = await ApiClient.connect("127.0.0.1", server.port, { onFrame: (f) => m.onFrame(f) });
  modules.push(m);
  return m;
}

/** Subscribes `m` to `type` and waits until the server counts `expected` subscribers of it. */
async function subscribe(m: Subscriber, type: number, expected: number): Promise<void> {
  m.client.notify(type);
  await m.client.flushed();
  await until(() => server.subscriberCount(type) === expected, 2000, `${expected} subscriber(s) of ${type}`);
}

/** One new module per reply, each subscribed to `type`, in order. */
async function subs(type: number, ...replies: Reply[]): Promise<Subscriber[]> {
  const out: Subscriber[] = [];
  for (const r of replies) {
    const m = await mod(r);
    await subscribe(m, type, server.subscriberCount(type) + 1);
    out.push(m);
  }
  return out;
}

const of = (m: Subscriber, type: number) => m.received.filter((n) => n.dataType === type);

/**
 * Proves everything the server sent `m` so far has arrived (TCP keeps order): notifies `m`
 * alone on a fresh type and waits for it. The barrier notification is then forgotten.
 */
async function barrier(m: Subscriber): Promise<void> {
  const type = barrierType++;
  await subscribe(m, type, 1);
  void verdictOf(server, type, hex("ba"));
  await until(() => of(m, type).length === 1, 2000, "barrier notification");
  m.received.splice(m.received.findIndex((n) => n.dataType === type), 1);
}

/** Settles `p` or fails naming what was awaited. */
async function within<V>(p: Promise<V>, ms: number, what: string): Promise<V> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, no) => (timer = setTimeout(() => no(new Error(`timed out waiting for: ${what}`)), ms)));
  return await Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Tracks a verdict so a test can check it is still open. */
function track(p: Promise<Verdict>): { readonly value: Verdict | null; settled: () => Promise<Verdict> } {
  const t = { value: null as Verdict | null, settled: () => within(p, 2000, "verdict") };
  void p.then((v) => (t.value = v));
  return t;
}

const logged = (re: RegExp) => lines.filter((l) => re.test(l));
async function waitLog(re: RegExp): Promise<string> {
  await until(() => logged(re).length > 0, 2000, `a log line matching ${re}`);
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
    expect(await verdictOf(server, T, hex("01"))).toBe("valid");
    expect(of(m, T).map((n) => n.data)).toEqual([hex("01")]);
  });

  test("a repeated NOTIFY is harmless: one notification, not two", async () => {
    start();
    const m = await mod();
    for (let i = 0; i < 3; i++) m.client.notify(T);
    await subscribe(m, U, 1); // handled after the three NOTIFYs of T
    expect(server.subscriberCount(T)).toBe(1);
    expect(await verdictOf(server, T, hex("02"))).toBe("valid");
    await barrier(m);
    expect(of(m, T).length).toBe(1);
  });

  test("one connection may subscribe to several data types", async () => {
    start();
    const m = await mod();
    await subscribe(m, T, 1);
    await subscribe(m, U, 1);
    expect(await verdictOf(server, T, hex("0a"))).toBe("valid");
    expect(await verdictOf(server, U, hex("0b"))).toBe("valid");
    expect(m.received.map((n) => [n.dataType, n.data])).toEqual([[T, hex("0a")], [U, hex("0b")]]);
  });

  test("several connections may subscribe to the same data type", async () => {
    start();
    const all = await subs(T, "valid", "valid", "valid");
    expect(await verdictOf(server, T, hex("0c"))).toBe("valid");
    for (const m of all) expect(of(m, T).length).toBe(1);
  });

  test("subscriptions end when the connection closes", async () => {
    start();
    const [a, b] = await subs(T, "valid", "valid");
    await subscribe(a!, U, 1);
    a!.client.close();
    await until(() => server.subscriberCount(T) === 1 && server.subscriberCount(U) === 0, 2000, "a's subscriptions gone");
    expect(server.connectionCount).toBe(1);
    expect(await verdictOf(server, U, hex("01"))).toBe("unsubscribed");
    expect(await verdictOf(server, T, hex("02"))).toBe("valid");
    expect(of(b!, T).length).toBe(1);
  });
});

describe("NOTIFICATION and VALIDATION (items from peers)", () => {
  test("an item is notified to every subscriber, with the same id and data", async () => {
    start();
    const [a, b] = await subs(T, "valid", "valid");
    const data = hex("deadbeef00ff");
    expect(await verdictOf(server, T, data)).toBe("valid");
    expect([of(a!, T).length, of(b!, T).length]).toEqual([1, 1]);
    expect(of(a!, T)[0]!.id).toBe(of(b!, T)[0]!.id);
    expect([of(a!, T)[0]!.data, of(b!, T)[0]!.data]).toEqual([data, data]);
  });

  test("the verdict is valid only after every notified subscriber answered valid", async () => {
    start();
    const [a, b] = await subs(T, "valid", "none");
    const v = track(verdictOf(server, T, hex("aa")));
    await until(() => b!.received.length === 1, 2000, "b notified");
    await barrier(a!); // a's answer has reached the server (it answered before the barrier)
    expect(v.value).toBeNull();
    b!.client.validate(b!.received[0]!.id, true);
    expect(await v.settled()).toBe("valid");
  });

  test("any invalid verdict: the item is invalid", async () => {
    start();
    await subs(T, "valid", "invalid", "valid");
    expect(await verdictOf(server, T, hex("bb"))).toBe("invalid");
  });

  test("no verdict within the validation timeout: timeout", async () => {
    start({ validationTimeoutMs: 200 });
    await subs(T, "valid", "none");
    const t0 = performance.now();
    expect(await verdictOf(server, T, hex("cc"))).toBe("timeout");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(150);
    expect(server.pendingCount).toBe(0);
  });

  test("a subscriber that disconnects while pending no longer counts: valid if the rest said valid", async () => {
    start();
    const [, b] = await subs(T, "valid", "none");
    const v = track(verdictOf(server, T, hex("dd")));
    await until(() => b!.received.length === 1, 2000, "b notified");
    b!.client.close();
    expect(await v.settled()).toBe("valid");
  });

  test("a subscriber that disconnects while pending, none left: abandoned (dropped)", async () => {
    start();
    const [b] = await subs(T, "none");
    const v = track(verdictOf(server, T, hex("ee")));
    await until(() => b!.received.length === 1, 2000, "b notified");
    b!.client.close();
    expect(await v.settled()).toBe("abandoned");
    expect(server.pendingCount).toBe(0);
  });

  test("an item of a type nobody subscribed to: unsubscribed, nobody notified", async () => {
    start();
    const [a] = await subs(U, "valid");
    expect(await verdictOf(server, T, hex("ff"))).toBe("unsubscribed");
    await barrier(a!);
    expect(a!.received).toEqual([]);
  });

  test("message ids are unique among this node's pending validations", async () => {
    start();
    const [a, b] = await subs(T, "none", "none");
    const verdicts = Array.from({ length: 20 }, (_, i) => verdictOf(server, T, new Uint8Array([i])));
    await until(() => a!.received.length === 20 && b!.received.length === 20, 2000, "20 notifications each");
    expect(new Set(a!.received.map((n) => n.id)).size).toBe(20);
    // One id per item, shared by every subscriber it was shown to.
    expect(b!.received.map((n) => [n.id, n.data[0]])).toEqual(a!.received.map((n) => [n.id, n.data[0]]));
    for (const m of [a!, b!]) for (const n of m.received) m.client.validate(n.id, true);
    expect(await Promise.all(verdicts)).toEqual(Array(20).fill("valid"));
  });

  test("a VALIDATION with an unknown id is ignored and logged; the connection stays open", async () => {
    start();
    const [a] = await subs(T, "valid");
    a!.client.validate(4242, true);
    expect(await waitLog(/validation ignored .*id=4242 .*why=unknown-id/)).toContain(" INFO ");
    expect(a!.client.closed).toBe(false);
    expect(await verdictOf(server, T, hex("01"))).toBe("valid");
  });

  test("ignored VALIDATIONs are logged at most once a second per connection: the first at once, the rest as a count", async () => {
    start();
    const [a] = await subs(T, "valid");
    // 2000 bytes of VALIDATIONs must not become 2000 log lines (about 12 times the bytes).
    for (let i = 0; i < 250; i++) a!.client.validate(5000 + i, true);
    await waitLog(/validation ignored .*id=5000 .*why=unknown-id count=1/);
    await until(() => logged(/validation ignored/).length === 2, 3000, "the count of the rest");
    expect(logged(/validation ignored/)[1]).toMatch(/id=5249 valid=true why=unknown-id count=249/);
    expect(a!.client.closed).toBe(false);
  });

  test("an already-answered VALIDATION is ignored and logged, and changes nothing", async () => {
    start();
    const [a, b] = await subs(T, "none", "none");
    const v = track(verdictOf(server, T, hex("02")));
    await until(() => a!.received.length === 1 && b!.received.length === 1, 2000, "notified");
    const id = a!.received[0]!.id;
    a!.client.validate(id, true);
    a!.client.validate(id, false); // already answered: must not turn the item invalid
    await waitLog(new RegExp(`validation ignored .*id=${id} .*why=already-answered`));
    expect(v.value).toBeNull();
    b!.client.validate(id, true);
    expect(await v.settled()).toBe("valid");
    expect(a!.client.closed || b!.client.closed).toBe(false);
  });

  test("a VALIDATION from a connection that was not notified is ignored and logged", async () => {
    start();
    const [a] = await subs(T, "none");
    const c = await mod();
    const v = track(verdictOf(server, T, hex("03")));
    await until(() => a!.received.length === 1, 2000, "notified");
    c.client.validate(a!.received[0]!.id, false);
    await waitLog(/validation ignored .*why=not-asked/);
    a!.client.validate(a!.received[0]!.id, true);
    expect(await v.settled()).toBe("valid");
    expect(c.client.closed).toBe(false);
  });

  test("more pending validations than max_pending_validations: overloaded (dropped, logged)", async () => {
    start({ maxPending: 2 });
    const [a] = await subs(T, "none");
    const first = [verdictOf(server, T, hex("01")), verdictOf(server, T, hex("02"))];
    expect(await verdictOf(server, T, hex("03"))).toBe("overloaded");
    expect(await verdictOf(server, T, hex("04"))).toBe("overloaded");
    // Logged at once, and the second drop within the second only counted, in a line to come.
    expect(logged(/too many verdicts pending/)).toEqual([expect.stringMatching(/items dropped: too many verdicts pending dropped=1 /)]);
    await until(() => logged(/too many verdicts pending/).length === 2, 3000, "the count");
    expect(logged(/too many verdicts pending/)[1]).toMatch(/dropped=1 /);
    await until(() => a!.received.length === 2, 2000, "two notifications");
    for (const n of a!.received) a!.client.validate(n.id, true);
    expect(await Promise.all(first)).toEqual(["valid", "valid"]);
    a!.reply = "valid"; // slots are free again
    expect(await verdictOf(server, T, hex("04"))).toBe("valid");
  });
});

describe("a module that stops answering cannot starve the others", () => {
  test("past a quarter of max_pending_validations owed by one subscriber, its types are dropped (logged); other types still get slots", async () => {
    start({ maxPending: 256 });
    const [silent] = await subs(T, "none");
    const [other] = await subs(T + 1, "valid");
    const owed = Array.from({ length: 64 }, (_, i) => verdictOf(server, T, hex(i.toString(16).padStart(2, "0"))));
    expect(await verdictOf(server, T, hex("ff"))).toBe("overloaded");
    await waitLog(/a subscriber owes too many verdicts/);
    expect(server.pendingCount).toBe(64);
    // The table has room, and another module's type still gets it.
    expect(await verdictOf(server, T + 1, hex("aa"))).toBe("valid");
    // Once the silent module answers, its type flows again.
    await until(() => silent!.received.length === 64, 2000, "64 notifications");
    for (const n of silent!.received) silent!.client.validate(n.id, true);
    expect(new Set(await Promise.all(owed))).toEqual(new Set(["valid"]));
    silent!.reply = "valid";
    expect(await verdictOf(server, T, hex("bb"))).toBe("valid");
    expect(other!.received.length).toBe(1);
  });

  test("rule: with more silent modules the share shrinks (the table split among the subscribed connections, one share kept free): four silent modules leave room for a fifth", async () => {
    start({ maxPending: 256 });
    const silent = await Promise.all([0, 1, 2, 3].map(() => mod("none")));
    for (const [i, m] of silent.entries()) await subscribe(m, 600 + i, 1);
    // Four subscribed connections: a share is 256 / 5 = 51, not a quarter (64, which four
    // silent modules would use up entirely).
    for (const i of [0, 1, 2, 3]) {
      for (let k = 0; k < 51; k++) void verdictOf(server, 600 + i, hex(k.toString(16).padStart(2, "0")));
      expect(await verdictOf(server, 600 + i, hex("ff"))).toBe("overloaded");
    }
    expect(server.pendingCount).toBe(4 * 51);
    // A module that comes now finds room, for items from peers and for local ANNOUNCEs.
    const [late] = await subs(T, "valid");
    expect(await verdictOf(server, T, hex("aa"))).toBe("valid");
    const announcer = await mod();
    announcer.client.announce(1, T, hex("bb"));
    await until(() => late!.received.length === 2, 2000, "the local ANNOUNCE shown");
    // Modules that leave give the others a larger share: with three subscribed, a quarter (64).
    late!.client.close();
    silent[3]!.client.close();
    await until(() => server.subscriberCount(T) + server.subscriberCount(603) === 0, 2000, "two gone");
    void verdictOf(server, 601, hex("cc"));
    await until(() => server.pendingCount === 3 * 51 + 1, 2000, "a slot for the silent module");
  });

  test("rule: local ANNOUNCEs fall under the same cap: a fast announcer and a silent co-subscriber leave room for items from peers", async () => {
    start({ maxPending: 256 });
    let spread = 0;
    server.setAnnounceSink(() => spread++);
    const announcer = await mod();
    const [silent] = await subs(T, "none");
    await subs(U, "valid");
    // More local announces than the whole table holds: each one owes a verdict from `silent`.
    for (let i = 0; i < 300; i++) announcer.client.announce(1, T, hex(i.toString(16).padStart(4, "0")));
    await until(() => spread === 300, 3000, "all 300 announces spread");
    // Spread, all of them; shown to the silent module only up to its share (64 of 256).
    expect(server.pendingCount).toBe(64);
    await until(() => silent!.received.length === 64, 2000, "64 notifications");
    await waitLog(/a subscriber owes too many verdicts/);
    // An item from a peer, of another module's type, still gets a slot.
    expect(await verdictOf(server, U, hex("aa"))).toBe("valid");
  });
});

describe("local ANNOUNCE", () => {
  test("ANNOUNCE hands (ttl, type, data) exactly to the overlay, without validation", async () => {
    start();
    const got: [number, number, Uint8Array][] = [];
    server.setAnnounceSink((ttl, type, data) => got.push([ttl, type, data]));
    const a = await mod();
    const big = new Uint8Array(65527).fill(7);
    a.client.announce(4, 1337, hex("deadbeef"));
    a.client.announce(0, T, new Uint8Array(0));
    a.client.announce(255, 0xffff, big);
    await until(() => got.length === 3, 2000, "three announces");
    expect(got).toEqual([[4, 1337, hex("deadbeef")], [0, T, new Uint8Array(0)], [255, 0xffff, big]]);
    // The overlay keeps the data (its knowledge base): a copy of its own, not a view that
    // would keep the socket's whole chunk alive.
    for (const [, , data] of got) expect(data.buffer.byteLength).toBe(data.byteLength);
    expect(server.pendingCount).toBe(0);
  });

  test("ANNOUNCE is notified to the other local subscribers, never back to the announcer", async () => {
    start();
    const got: number[] = [];
    server.setAnnounceSink((_ttl, type) => got.push(type));
    const [announcer, b] = await subs(T, "valid", "valid");
    const [c] = await subs(U, "valid");
    announcer!.client.announce(3, T, hex("c0ffee"));
    await until(() => b!.received.length === 1, 2000, "b notified");
    expect(b!.received[0]!.data).toEqual(hex("c0ffee"));
    await barrier(announcer!);
    await barrier(c!);
    expect([announcer!.received, c!.received]).toEqual([[], []]);
    expect(got).toEqual([T]);
  });

  test("with the verdict table full, local ANNOUNCEs are spread but not shown: logged at once, then counted once a second", async () => {
    start({ maxPending: 2 });
    let spread = 0;
    server.setAnnounceSink(() => spread++);
    const announcer = await mod();
    const [silent] = await subs(T, "none");
    void verdictOf(server, T, hex("01"));
    void verdictOf(server, T, hex("02"));
    for (let i = 0; i < 3; i++) announcer.client.announce(1, T, hex("0a0" + i));
    await until(() => spread === 3, 2000, "all three spread");
    expect(logged(/local deliveries skipped/)).toEqual([expect.stringMatching(/skipped=1 /)]);
    await until(() => logged(/local deliveries skipped/).length === 2, 3000, "the count");
    expect(logged(/local deliveries skipped/)[1]).toMatch(/skipped=2 /);
    expect(silent!.received.length).toBe(2);
  });

  test("VALIDATION replies to a local announce are accepted and gate nothing", async () => {
    start({ validationTimeoutMs: 300 });
    const got: Uint8Array[] = [];
    server.setAnnounceSink((_ttl, _type, data) => got.push(data));
    const announcer = await mod();
    const [yes, no, silent] = await subs(T, "valid", "invalid", "none");
    announcer.client.announce(1, T, hex("0101"));
    // Spread at once: neither the invalid answer nor the missing one holds it back.
    await until(() => got.length === 1 && silent!.received.length === 1, 2000, "spread and notified");
    await barrier(yes!);
    await barrier(no!);
    // The silent subscriber's slot expires on its own; no answer was refused.
    await until(() => server.pendingCount === 0, 2000, "no pending verdicts");
    expect(logged(/validation ignored/)).toEqual([]);
  });
});

describe("bad input closes only that connection", () => {
  // Sizes 4-7 fit no API message: a decoder may refuse them from the size field alone.
  const SHORT = "(ERR_FRAME_TOO_SMALL|ERR_WRONG_SIZE|ERR_TRUNCATED)";
  const cases: [string, string, string][] = [
    ["size below the minimum 4", "0003 01f4", "ERR_FRAME_TOO_SMALL"],
    ["size 0", "0000", "ERR_FRAME_TOO_SMALL"],
    ["NOTIFY of size 7", "0007 01f5 0000 05", SHORT],
    ["NOTIFY of size 9", "0009 01f5 0000 0539 00", "ERR_WRONG_SIZE"],
    ["VALIDATION of size 9", "0009 01f7 0007 0001 00", "ERR_WRONG_SIZE"],
    ["VALIDATION of size 7", "0007 01f7 0007 00", SHORT],
    ["ANNOUNCE shorter than 8", "0007 01f4 04 00 05", SHORT],
    ["unknown type 499", "0008 01f3 0000 0539", "ERR_UNKNOWN_TYPE"],
    ["unknown type 504", "0004 01f8", "(ERR_UNKNOWN_TYPE|ERR_FRAME_TOO_SMALL)"],
    ["NOTIFICATION (502) sent by a module", "000c 01f6 0007 0539 deadbeef", "ERR_UNEXPECTED_TYPE"],
  ];
  for (const [name, bytes, code] of cases) {
    test(`protocol violation (${name}): logged, closed, its state dropped, others carry on`, async () => {
      start();
      const [good, bad] = await subs(T, "valid", "none");
      await subscribe(bad!, U, 1);
      // A verdict pending on the bad connection, already approved by the good one.
      const v = track(verdictOf(server, T, hex("99")));
      await until(() => bad!.received.length === 1, 2000, "bad notified");
      bad!.client.sendRaw(hex(bytes));
      await within(bad!.client.whenClosed(), 2000, "bad connection closed");
      const line = await waitLog(/protocol violation/);
      expect(line).toContain(" WARN ");
      expect(line).toMatch(new RegExp(` code=${code} why=`));
      // Its subscriptions and pending verdicts are dropped.
      expect(await v.settled()).toBe("valid");
      await until(() => server.connectionCount === 1, 2000, "one connection left");
      expect([server.subscriberCount(T), server.subscriberCount(U), server.pendingCount]).toEqual([1, 0, 0]);
      // The other connection keeps working.
      expect(await verdictOf(server, T, hex("98"))).toBe("valid");
      expect([good!.client.closed, of(good!, T).length]).toEqual([false, 2]);
    });
  }

  // The header alone condemns these: the connection closes without its body ever coming, so
  // a module cannot make us hold up to 64 KiB for a frame we would refuse anyway.
  const headers: [string, string, string][] = [
    ["NOTIFY declaring 65535 bytes", "ffff 01f5", "ERR_WRONG_SIZE"],
    ["NOTIFY declaring 9 bytes", "0009 01f5", "ERR_WRONG_SIZE"],
    ["VALIDATION declaring 65535 bytes", "ffff 01f7", "ERR_WRONG_SIZE"],
    ["NOTIFICATION declaring 65535 bytes", "ffff 01f6", "ERR_UNEXPECTED_TYPE"],
    ["unknown type 520 declaring 65535 bytes", "ffff 0208", "ERR_UNKNOWN_TYPE"],
    ["unknown type 0 declaring 16 bytes", "0010 0000", "ERR_UNKNOWN_TYPE"],
  ];
  for (const [name, bytes, code] of headers) {
    test(`refused from its header alone (${name}): closed before the body comes`, async () => {
      start();
      const m = await mod();
      m.client.sendRaw(hex(bytes));
      await within(m.client.whenClosed(), 2000, "closed on the header");
      expect(await waitLog(/protocol violation/)).toMatch(new RegExp(` code=${code} why=`));
    });
  }

  test("a header that is fine waits for its body: an ANNOUNCE of 65535 bytes sent in two parts", async () => {
    start();
    const got: number[] = [];
    server.setAnnounceSink((_ttl, _type, data) => got.push(data.byteLength));
    const m = await mod();
    const frame = new Uint8Array(0xffff);
    frame.set(hex("ffff 01f4 00 00 0539"));
    m.client.sendRaw(frame.subarray(0, 4));
    await m.client.flushed();
    m.client.sendRaw(frame.subarray(4));
    await until(() => got.length === 1, 2000, "the ANNOUNCE");
    expect([got, m.client.closed]).toEqual([[0xffff - 8], false]);
  });

  test("a violation after good messages in the same read: the good ones count, then close", async () => {
    start();
    const got: number[] = [];
    server.setAnnounceSink((_ttl, type) => got.push(type));
    const m = await mod();
    m.client.sendRaw(hex("0008 01f5 0000 021c" + "000a 01f4 00 00 0539 abcd" + "0003 01f4"));
    await within(m.client.whenClosed(), 2000, "closed");
    await waitLog(/protocol violation.*ERR_FRAME_TOO_SMALL/);
    // How TCP cut the stream must not matter: the ANNOUNCE is handled as if read on its own.
    expect(got).toEqual([1337]);
    expect(logged(/subscribed .*type=540/).length).toBe(1);
    await until(() => server.subscriberCount(T) === 0, 2000, "subscription dropped");
  });
});

describe("TCP framing: split and coalesced reads are normal", () => {
  test("a NOTIFY and an ANNOUNCE written one byte at a time work", async () => {
    start();
    const got: [number, number, Uint8Array][] = [];
    server.setAnnounceSink((ttl, type, data) => got.push([ttl, type, data]));
    const [other] = await subs(T, "valid");
    const writer = await mod();
    for (const b of hex("0008 01f5 0000 021d" + "000c 01f4 04 00 021c deadbeef")) {
      writer.client.sendRaw(new Uint8Array([b]));
      await writer.client.flushed();
      await Bun.sleep(1);
    }
    await until(() => got.length === 1 && server.subscriberCount(U) === 1, 2000, "both messages handled");
    expect(got).toEqual([[4, T, hex("deadbeef")]]);
    await until(() => other!.received.length === 1, 2000, "local delivery");
    expect(other!.received[0]!.data).toEqual(hex("deadbeef"));
    expect(writer.client.closed).toBe(false);
  });

  test("several messages in one write all work", async () => {
    start();
    const got: number[] = [];
    server.setAnnounceSink((_ttl, type) => got.push(type));
    const m = await mod();
    // NOTIFY 540, NOTIFY 541, ANNOUNCE 1337, VALIDATION of an unknown id, ANNOUNCE type 1.
    m.client.sendRaw(hex("0008 01f5 0000 021c 0008 01f5 0000 021d 000a 01f4 0000 0539 abcd 0008 01f7 1234 0001 0009 01f4 0200 0001 ff"));
    await until(() => got.length === 2, 2000, "two announces");
    expect(got).toEqual([1337, 1]);
    expect([server.subscriberCount(T), server.subscriberCount(U)]).toEqual([1, 1]);
    await waitLog(/validation ignored .*why=unknown-id/);
    expect(await verdictOf(server, U, hex("01"))).toBe("valid");
    expect(m.client.closed).toBe(false);
  });
});

describe("resource limits", () => {
  test("subscriptions cost bounded memory: 8 connections subscribing to all 65536 types each", async () => {
    start({ log: memoryLogger("info").log }); // not half a million "subscribed" lines kept in memory
    const all = await Promise.all(Array.from({ length: 8 }, () => mod()));
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    const notifies = new Uint8Array(65536 * 8);
    for (let t = 0; t < 65536; t++) notifies.set(hex(`0008 01f5 0000 ${t.toString(16).padStart(4, "0")}`), t * 8);
    for (const m of all) m.client.sendRaw(notifies);
    await until(() => server.subscriptionCount === 8 * 65536, 20_000, "every subscription");
    Bun.gc(true);
    // A set and an index entry per subscription took about 100 bytes each (50 MB here).
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 << 20);
    expect([server.subscriberCount(0), server.subscriberCount(65535)]).toEqual([8, 8]);
    expect(await verdictOf(server, 65535, hex("01"))).toBe("valid");
    expect(all.map((m) => m.received.length)).toEqual(Array(8).fill(1));
  }, 30_000);

  test("a module that never reads is disconnected past the send high-water mark; others are served", async () => {
    start({ sendBufferBytes: 65536, maxPending: 4096, validationTimeoutMs: 30_000 });
    const [good] = await subs(U, "valid");
    // A raw socket that stops reading: the kernel buffers fill, then the server's queue.
    const slow = await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {} } });
    try {
      slow.pause();
      slow.write(hex("0008 01f5 0000 021c")); // NOTIFY 540
      await until(() => server.subscriberCount(T) === 1, 2000, "slow subscribed");
      const item = new Uint8Array(60_000).fill(0x5a);
      const verdicts: Promise<Verdict>[] = [];
      for (let i = 0; i < 700 && server.subscriberCount(T) > 0; i++) {
        verdicts.push(verdictOf(server, T, item)); // at most 700 x 60 KB = 42 MB
        if (i % 8 === 7) await Bun.sleep(1); // let the event loop flush and notice
      }
      await until(() => server.subscriberCount(T) === 0, 5000, "slow reader disconnected");
      await waitLog(/module disconnected .*send queue over high-water mark/);
      const settled = new Set(await within(Promise.all(verdicts), 2000, "verdicts"));
      expect([...settled].every((v) => v === "abandoned" || v === "unsubscribed")).toBe(true);
      expect(settled.has("abandoned")).toBe(true);
      expect([server.pendingCount, server.connectionCount]).toEqual([0, 1]);
      expect(await verdictOf(server, U, hex("01"))).toBe("valid");
      expect(good!.client.closed).toBe(false);
    } finally {
      slow.terminate();
    }
  });

  test("api_max_connections: a connection beyond the limit is closed at once and logged", async () => {
    start({ maxConnections: 2 });
    const [a, b] = [await mod(), await mod()];
    await until(() => server.connectionCount === 2, 2000, "two connections");
    let closed = false;
    const onEnd = () => void (closed = true);
    const third = await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {}, close: onEnd, error: onEnd } });
    await until(() => closed, 2000, "third connection closed");
    third.terminate();
    await waitLog(/module connection refused: too many connections .*max=2/);
    expect(server.connectionCount).toBe(2);
    await subscribe(a, T, 1);
    await subscribe(b, T, 2);
    expect(await verdictOf(server, T, hex("01"))).toBe("valid");
    a.client.close(); // a slot frees when a connection closes
    await until(() => server.connectionCount === 1, 2000, "a gone");
    await subscribe(await mod(), U, 1);
  });

  // Regression: Bun may resolve a connect whose socket the server already closed without
  // running `open`; ApiClient.connect then resolved with null instead of failing.
  test("api_max_connections: ApiClient.connect to a full server fails or gives a closed client, never null", async () => {
    start({ maxConnections: 1 });
    await mod();
    await until(() => server.connectionCount === 1, 2000, "one connection");
    const c = await ApiClient.connect("127.0.0.1", server.port).catch((e: Error) => e);
    expect(c).not.toBeNull();
    if (c instanceof ApiClient) expect(await within(c.whenClosed(), 2000, "closed")).toBeString();
  });
});
