// The admin listener on real nodes: /metrics is valid Prometheus text whose counters move when
// items flow, /status lists the neighbours, other paths are 404, and `gossip status` reads it.

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runGossip } from "../helpers/cli.ts";
import { freePort, startNode, testKeys, Testnet, until } from "../helpers/testnet.ts";
import type { TcpTransport } from "../../src/net/peer-transport.ts";
import type { NodeStatus } from "../../src/node/admin.ts";
import { Logger } from "../../src/util/log.ts";

const ADMIN = { admin_address: "127.0.0.1:0" };
const TYPE = 4242;
let net: Testnet | null = null;
const cleanups: (() => void)[] = [];

afterEach(() => {
  net?.stop();
  net = null;
  for (const c of cleanups.splice(0)) c();
});

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`;
const SAMPLE = new RegExp(`^(${NAME})(\\{(?:${LABEL}(?:,${LABEL})*)?\\})? (-?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?|NaN|[+-]Inf)$`);

/**
 * A strict reading of the text exposition format (0.0.4) as far as counters and gauges go:
 * every line is `# HELP name text`, `# TYPE name type` or `name{labels} value`; each family has
 * one HELP and one TYPE, before its samples; counter families end in _total. Returns the
 * samples keyed by `name{labels}`.
 */
function parseExposition(text: string): { samples: Map<string, number>; types: Map<string, string> } {
  expect(text.endsWith("\n")).toBe(true);
  const help = new Set<string>();
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of text.slice(0, -1).split("\n")) {
    if (line === "") continue;
    let m: RegExpMatchArray | null;
    if ((m = line.match(new RegExp(`^# HELP (${NAME}) (.*)$`)))) {
      expect(help.has(m[1]!), `second HELP for ${m[1]}`).toBe(false);
      expect(m[2]!.length).toBeGreaterThan(0);
      help.add(m[1]!);
    } else if ((m = line.match(new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`)))) {
      expect(types.has(m[1]!), `second TYPE for ${m[1]}`).toBe(false);
      if (m[2] === "counter") expect(m[1]!.endsWith("_total"), `counter ${m[1]} ends in _total`).toBe(true);
      types.set(m[1]!, m[2]!);
    } else {
      m = line.match(SAMPLE);
      expect(m, `not a valid exposition line: ${JSON.stringify(line)}`).not.toBeNull();
      const name = m![1]!;
      expect(help.has(name) && types.has(name), `${name} sampled before its HELP and TYPE`).toBe(true);
      const key = name + (m![2] ?? "");
      expect(samples.has(key), `sample ${key} twice`).toBe(false);
      samples.set(key, Number(m![3]));
    }
  }
  for (const name of types.keys()) expect(help.has(name), `${name} has no HELP`).toBe(true);
  return { samples, types };
}

async function get(admin: string | null, path: string): Promise<Response> {
  expect(admin).not.toBeNull();
  return fetch(`http://${admin}${path}`);
}

async function scrape(admin: string | null) {
  const res = await get(admin, "/metrics");
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toStartWith("text/plain");
  return parseExposition(await res.text());
}

async function twoNodes(): Promise<Testnet> {
  net = await Testnet.start(2, ADMIN);
  await net.settled(1);
  return net;
}

test("GET /metrics: strict exposition text whose counters move when an item flows", async () => {
  const t = await twoNodes();
  const [a, b] = t.nodes as [NonNullable<(typeof t.nodes)[0]>, NonNullable<(typeof t.nodes)[0]>];
  // The bootstrapper's check of the joiner's address (one more handshake, PROTOCOL.md 5.3)
  // may still be on its way when the link is up: wait for it, so the counts below are final.
  const ok = 'gossip_handshakes_total{outcome="ok"}';
  let before = await scrape(a.adminAddress);
  const deadline = performance.now() + 5000;
  while (before.samples.get(ok) !== 2 && performance.now() < deadline) {
    await Bun.sleep(20);
    before = await scrape(a.adminAddress);
  }
  for (const name of [
    "gossip_active_view_peers", "gossip_passive_view_peers", "gossip_links", "gossip_peer_queue_bytes",
    "gossip_api_connections", "gossip_api_subscriptions", "process_resident_memory_bytes",
    "gossip_items_announced_total", "gossip_items_received_total", "gossip_items_duplicate_total",
    "gossip_items_delivered_total", "gossip_items_forwarded_total", "gossip_items_dropped_total",
    "gossip_verdicts_total", "gossip_control_sent_total", "gossip_grafts_deferred_total", "gossip_grafts_missed_total", "gossip_peer_bans_total",
  ]) expect(before.types.has(name), `family ${name}`).toBe(true);
  expect(before.types.get("gossip_items_received_total")).toBe("counter");
  expect(before.samples.get("gossip_active_view_peers")).toBe(1);
  expect(before.samples.get('gossip_links{state="active"}')).toBe(1);
  expect(before.samples.get("gossip_items_received_total")).toBe(0);
  expect(before.samples.get('gossip_items_dropped_total{reason="rejected"}')).toBe(0);
  // The one link of a two-node network went through one handshake at each end, and the
  // bootstrapper checked the joiner's address with one more (PROTOCOL.md 5.3).
  expect(before.samples.get(ok)).toBe(2);
  expect(before.samples.get('gossip_handshakes_total{outcome="failed"}')).toBe(0);
  expect(before.samples.get("gossip_handshakes_in_progress")).toBe(0);

  const sub = await t.subscribe(a, TYPE, "valid");
  const mod = await t.module(b);
  mod.announce(0, TYPE, new Uint8Array([1, 2, 3]));
  await until(() => sub.count() === 1, 5000, "a delivered the item");
  await until(() => a.dissemination.stats.delivered === 1, 2000, "verdict counted");

  const afterA = (await scrape(a.adminAddress)).samples;
  expect(afterA.get("gossip_items_received_total")).toBe(1);
  expect(afterA.get("gossip_items_delivered_total")).toBe(1);
  expect(afterA.get('gossip_verdicts_total{outcome="valid"}')).toBe(1);
  expect(afterA.get("gossip_api_subscriptions")).toBe(1);
  const afterB = (await scrape(b.adminAddress)).samples;
  expect(afterB.get("gossip_items_announced_total")).toBe(1);
  expect(afterB.get("gossip_items_forwarded_total")).toBeGreaterThanOrEqual(1);
  // Deferred and unanswerable GRAFTs are the core's counts.
  a.dissemination.stats.graftDeferred += 3;
  a.dissemination.stats.graftMissed += 2;
  const grafts = (await scrape(a.adminAddress)).samples;
  expect(grafts.get("gossip_grafts_deferred_total")).toBe(3);
  expect(grafts.get("gossip_grafts_missed_total")).toBe(2);
  // Bans are counted where the core decides them (its score table).
  expect(a.scores.adjust("some-id", "10.9.9.9:1", -1_000_000)).toBe(true);
  expect((await scrape(a.adminAddress)).samples.get("gossip_peer_bans_total")).toBe(1);
  // A later scrape never goes down.
  const again = (await scrape(a.adminAddress)).samples;
  expect(again.get("gossip_items_received_total")).toBe(1);
  // Every peer frame after the handshake went out in a sealed record (at least the item).
  const records = afterB.get("gossip_sealed_records_total")!;
  expect(records).toBeGreaterThanOrEqual(1);
  expect(afterB.get("gossip_sealed_frames_total")!).toBeGreaterThanOrEqual(records);
  // What a link sealed still counts once the link is gone.
  const tb = b.transport as TcpTransport;
  const live = tb.sealed;
  expect(live.frames).toBeGreaterThanOrEqual(live.records);
  const links = (tb as unknown as { links: Set<{ close(r: string): void }> }).links;
  const old = [...links];
  for (const l of old) l.close("test: closing every link");
  await until(() => old.every((l) => !links.has(l)), 3000, "b's links gone");
  expect(tb.sealed.records).toBeGreaterThanOrEqual(live.records);
  expect(tb.sealed.frames).toBeGreaterThanOrEqual(live.frames);
});

test("GET /metrics counts a failed handshake", async () => {
  const t = await twoNodes();
  const a = t.nodes[0]!;
  const [host, port] = a.p2pAddress.split(":") as [string, string];
  // Not a HELLO: the handshake fails and the connection is closed.
  const sock = await Bun.connect({ hostname: host, port: Number(port), socket: { data() {} } });
  sock.write(new Uint8Array([0, 0, 0, 6, 0, 99]));
  await until(() => (a.transport as TcpTransport).handshakes.failed === 1, 3000, "the handshake fails");
  expect((await scrape(a.adminAddress)).samples.get('gossip_handshakes_total{outcome="failed"}')).toBe(1);
  sock.end();
});

test("GET /status lists the neighbour with its direction; other paths are 404", async () => {
  const t = await twoNodes();
  const [a, b] = t.nodes as [NonNullable<(typeof t.nodes)[0]>, NonNullable<(typeof t.nodes)[0]>];
  const res = await get(a.adminAddress, "/status");
  expect(res.status).toBe(200);
  const s = (await res.json()) as NodeStatus;
  expect(s.id).toBe(a.id);
  expect(s.p2pAddress).toBe(a.p2pAddress);
  expect(s.apiAddress).toBe(a.apiAddress);
  expect(s.neighbours).toHaveLength(1);
  const n = s.neighbours[0]!;
  expect(n.address).toBe(b.p2pAddress);
  expect(n.id).toBe(b.id);
  expect(n.direction).toBe("in"); // b joined through a
  expect(["eager", "lazy"]).toContain(n.mode);
  expect(n.ageMs).toBeGreaterThanOrEqual(0);
  const sb = (await (await get(b.adminAddress, "/status")).json()) as NodeStatus;
  expect(sb.neighbours.map((x) => [x.address, x.direction])).toEqual([[a.p2pAddress, "out"]]);
  expect(typeof s.counters.itemsReceived).toBe("number");

  for (const path of ["/", "/metric", "/status/x"]) expect((await get(a.adminAddress, path)).status).toBe(404);
});

test("no admin_address: no admin listener", async () => {
  const [key] = await testKeys(1);
  const node = startNode({ hostkey: key! });
  cleanups.push(() => node.stop());
  expect(node.adminAddress).toBeNull();
});

test("a non-loopback admin_address is allowed with a warning; loopback is quiet", async () => {
  const [key] = await testKeys(1);
  for (const [host, warns] of [["0.0.0.0", true], ["127.0.0.1", false]] as const) {
    const lines: string[] = [];
    const node = startNode({ hostkey: key!, keys: { admin_address: `${host}:0` }, log: new Logger("warn", "test", (l) => lines.push(l)) });
    cleanups.push(() => node.stop());
    expect(node.adminAddress).toStartWith(`${host}:`);
    expect(lines.some((l) => l.includes("admin_address is not a loopback address"))).toBe(warns);
  }
});

test("stop() closes the admin listener", async () => {
  const [key] = await testKeys(1);
  const node = startNode({ hostkey: key!, keys: ADMIN });
  const admin = node.adminAddress;
  expect((await get(admin, "/status")).status).toBe(200);
  node.stop();
  await expect(fetch(`http://${admin}/status`)).rejects.toThrow();
});

test("gossip status: a table of the neighbours, or the JSON", async () => {
  const t = await twoNodes();
  const [a, b] = t.nodes as [NonNullable<(typeof t.nodes)[0]>, NonNullable<(typeof t.nodes)[0]>];
  const human = await runGossip(["status", "--admin", a.adminAddress!]);
  expect(human.err).toEqual([]);
  expect(human.code).toBe(0);
  expect(human.out.find((l) => l.startsWith("id"))).toContain(a.id);
  expect(human.out.some((l) => l.startsWith(b.p2pAddress) && l.includes(b.id.slice(0, 16)) && l.includes(" in "))).toBe(true);

  const json = await runGossip(["status", "--admin", a.adminAddress!, "--json"]);
  expect(json.code).toBe(0);
  const s = JSON.parse(json.out.join("\n")) as NodeStatus;
  expect(s.neighbours.map((n) => n.id)).toEqual([b.id]);

  // -c reads admin_address (port 0 in the test config cannot be dialed: a real port here).
  const dir = mkdtempSync(join(tmpdir(), "gossip-status-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const ini = join(dir, "node.ini");
  writeFileSync(ini, `[gossip]\nadmin_address = ${a.adminAddress}\n`);
  const viaConfig = await runGossip(["status", "-c", ini, "--json"]);
  expect(viaConfig.code).toBe(0);
  expect((JSON.parse(viaConfig.out.join("\n")) as NodeStatus).id).toBe(a.id);
});

test("gossip status: no admin_address in the config is a usage error naming the key; unreachable is exit 1", async () => {
  const dir = mkdtempSync(join(tmpdir(), "gossip-status-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const ini = join(dir, "node.ini");
  writeFileSync(ini, "[gossip]\ndegree = 4\n");
  const off = await runGossip(["status", "-c", ini]);
  expect(off.code).toBe(2);
  expect(off.err.join("\n")).toContain("admin_address is not set");

  const none = await runGossip(["status"]);
  expect(none.code).toBe(2);
  expect(none.err.join("\n")).toContain("admin_address");

  const port = freePort();
  const down = await runGossip(["status", "--admin", `127.0.0.1:${port}`]);
  expect(down.code).toBe(1);
  expect(down.err.join("\n")).toContain(`cannot reach the gossip admin listener at 127.0.0.1:${port}`);
});
