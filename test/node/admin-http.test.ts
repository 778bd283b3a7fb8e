// The admin listener at the HTTP level, over raw TCP on 127.0.0.1: requests that fetch() would
// never send (HTTP/1.0 without Host, HEAD, other methods) and what it does at its limits.

import { afterEach, expect, test } from "bun:test";
import { ADMIN_CONNECTION_MS, ADMIN_MAX_CONNECTIONS } from "../../src/node/admin.ts";
import type { GossipNode } from "../../src/node/node.ts";
import { Logger } from "../../src/util/log.ts";
import { splitHostPort, startNode, testKeys, until } from "../helpers/testnet.ts";

const ADMIN = { admin_address: "127.0.0.1:0", state_dir: "off" };
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Warnings and errors the node logged. */
let logged: string[] = [];

async function adminNode(): Promise<GossipNode> {
  const [key] = await testKeys(1);
  logged = [];
  const node = startNode({ hostkey: key!, keys: ADMIN, log: new Logger("warn", "test", (l) => logged.push(l)) });
  cleanups.push(() => node.stop());
  return node;
}

/** Sends `request` as is and returns everything the server sent until it closed (or the deadline). */
export async function raw(addr: string, request: string, deadlineMs = 3000): Promise<string> {
  const [host, port] = splitHostPort(addr);
  const chunks: Buffer[] = [];
  let closed!: () => void;
  const done = new Promise<void>((r) => (closed = r));
  const sock = await Bun.connect({
    hostname: host,
    port,
    socket: {
      data: (_s, d) => void chunks.push(Buffer.from(d)),
      close: () => closed(),
      error: () => closed(),
    },
  });
  sock.write(request);
  const timer = setTimeout(() => closed(), deadlineMs);
  await done;
  clearTimeout(timer);
  sock.end();
  return Buffer.concat(chunks).toString("latin1");
}

test("GET /metrics HTTP/1.0 without a Host header is served (no 500, no error logged)", async () => {
  const node = await adminNode();
  const res = await raw(node.adminAddress!, "GET /metrics HTTP/1.0\r\n\r\n");
  expect(res).toMatch(/^HTTP\/1\.[01] 200 /);
  expect(res).toContain("gossip_uptime_seconds");
  const status = await raw(node.adminAddress!, "GET /status?x=1 HTTP/1.0\r\n\r\n");
  expect(status).toMatch(/^HTTP\/1\.[01] 200 /);
  expect(status).toContain(`"id":"${node.id}"`);
  expect(logged).toEqual([]);
});

test("HEAD is answered like GET without a body; other methods are 405 with Allow: GET, HEAD", async () => {
  const node = await adminNode();
  const addr = node.adminAddress!;
  for (const path of ["/metrics", "/status"]) {
    const res = await raw(addr, `HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(res).toMatch(/^HTTP\/1\.1 200 /);
    expect(res.endsWith("\r\n\r\n")).toBe(true); // headers only
  }
  expect(await raw(addr, "HEAD /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")).toMatch(/^HTTP\/1\.1 404 [^]*\r\n\r\n$/);
  for (const method of ["POST", "PUT", "DELETE", "OPTIONS"]) {
    const res = await raw(addr, `${method} /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    expect(res).toMatch(/^HTTP\/1\.1 405 /);
    expect(res).toMatch(/\r\nallow: GET, HEAD\r\n/i);
  }
  expect((await fetch(`http://${addr}/metrics`, { method: "HEAD" })).status).toBe(200);
  expect(logged).toEqual([]);
});

test("at the cap a further admin connection is answered 503 and closed; held connections end after ADMIN_CONNECTION_MS; an oversized head is 431", async () => {
  const node = await adminNode();
  const [host, port] = splitHostPort(node.adminAddress!);
  const held: { closed: boolean; sock: { end(): void } }[] = [];
  for (let i = 0; i < ADMIN_MAX_CONNECTIONS; i++) {
    const h = { closed: false, sock: null as unknown as { end(): void } };
    h.sock = await Bun.connect({ hostname: host, port, socket: { data() {}, close: () => void (h.closed = true) } });
    held.push(h);
  }
  cleanups.push(() => held.forEach((h) => h.sock.end()));
  await Bun.sleep(50);
  expect(await raw(node.adminAddress!, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n")).toMatch(/^HTTP\/1\.1 503 /);
  expect(logged.some((l) => l.includes("admin connections refused") && l.includes(`max=${ADMIN_MAX_CONNECTIONS}`))).toBe(true);
  expect(held.some((h) => h.closed)).toBe(false);
  const t0 = performance.now();
  await until(() => held.every((h) => h.closed), ADMIN_CONNECTION_MS + 2000, "idle admin connections are closed");
  expect(performance.now() - t0).toBeGreaterThan(ADMIN_CONNECTION_MS - 1000);
  expect(await raw(node.adminAddress!, "GET /status HTTP/1.1\r\nHost: x\r\n\r\n")).toMatch(/^HTTP\/1\.1 200 /);
  expect(await raw(node.adminAddress!, `GET /status HTTP/1.1\r\nX: ${"a".repeat(9000)}\r\n\r\n`)).toMatch(/^HTTP\/1\.1 431 /);
}, 15_000);
