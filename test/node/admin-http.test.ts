// The admin listener at the HTTP level, over raw TCP on 127.0.0.1: requests that fetch() would
// never send (HTTP/1.0 without Host, HEAD, other methods) and what it does at its limits.

import { afterEach, expect, test } from "bun:test";
import type { GossipNode } from "../../src/node/node.ts";
import { Logger } from "../../src/util/log.ts";
import { splitHostPort, startNode, testKeys } from "../helpers/testnet.ts";

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
