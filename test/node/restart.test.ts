// Leaving and restarting over real sockets (issue 9): the graceful leave a SIGTERM makes, and
// the state file a restarted node rejoins with.

import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { LEAVE_GRACE_MS } from "../../src/core/core.ts";
import type { GossipNode } from "../../src/node/node.ts";
import { ApiClient } from "../../src/net/api-client.ts";
import { readState, STATE_WRITE_MS, StateWriter, statePath } from "../../src/node/state.ts";
import { Logger } from "../../src/util/log.ts";
import { splitHostPort, startNode, Subscriber, testKeys, until } from "../helpers/testnet.ts";

const nodes: GossipNode[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) n.stop();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "gossip-state-"));
  dirs.push(d);
  return d;
}
function keep(n: GossipNode): GossipNode {
  nodes.push(n);
  return n;
}
function memLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: new Logger("debug", "test", (l) => lines.push(l)), lines };
}

describe("graceful leave", () => {
  test("leave() says goodbye and waits for it to be taken: the neighbour drops us at once and keeps our address in reserve", async () => {
    const [ka, kb] = await testKeys(2);
    const a = keep(startNode({ hostkey: ka! }));
    const b = keep(startNode({ hostkey: kb!, bootstrapper: a.p2pAddress }));
    await until(() => a.membership.active.has(b.id) && b.membership.active.has(a.id), 5000, "a and b are neighbours");
    const t0 = performance.now();
    await b.leave();
    // The goodbye was taken (a closed its end): no waiting out the grace period.
    expect(performance.now() - t0).toBeLessThan(LEAVE_GRACE_MS);
    expect(b.transport.linkCount).toBe(0);
    await until(() => a.membership.active.size === 0, 2000, "a drops b");
    expect(a.membership.passive.has(b.p2pAddress)).toBe(true);
  });
});

describe("state file", () => {
  test("statePath: next to the config, under state_dir, or none", () => {
    const cfg = (body: string, file: string | null) => parseConfig(`[gossip]\n${body}\n`, file).config;
    expect(statePath(cfg("degree = 4", "/etc/vp/node1.ini"))).toBe("/etc/vp/node1.state");
    expect(statePath(cfg("state_dir = /var/lib/gossip", "/etc/vp/node1.ini"))).toMatch(/^\/var\/lib\/gossip\/node1-[0-9a-f]{8}\.state$/);
    expect(statePath(cfg("state_dir = off", "/etc/vp/node1.ini"))).toBeNull();
    expect(statePath(cfg("degree = 4", null))).toBeNull();
    expect(statePath(cfg("state_dir = /var/lib/gossip", null))).toBe("/var/lib/gossip/gossip.state");
  });

  test("written atomically, only when it changed; read back with ids past their deadline dropped", async () => {
    const dir = tmp();
    const path = join(dir, "n.state");
    let snap = { peers: ["10.0.0.1:6001"], seen: [["00".repeat(16), 60_000], ["11".repeat(16), 1000]] as Array<[string, number]> };
    const { log } = memLog();
    const w = new StateWriter(path, () => snap, log);
    w.save(1_000_000);
    const first = readFileSync(path, "utf8");
    // Same deadlines a second later: nothing to write (the file keeps its bytes).
    snap = { ...snap, seen: snap.seen.map(([id, left]) => [id, left - 1000] as [string, number]) };
    writeFileSync(path, first + " ");
    w.save(1_001_000);
    expect(readFileSync(path, "utf8")).toBe(first + " ");
    const back = await readState(path, log, 1_002_000 + 500);
    expect(back?.peers).toEqual(["10.0.0.1:6001"]);
    // Deadlines 1,060,000 and 1,001,000: at 1,002,500 the second has passed, the first has 57.5 s left.
    expect(back?.seen).toEqual([["00".repeat(16), 57_500]]);
  });

  test("a missing file is a first start; a damaged one is ignored with a warning; an unwritable place is a warning, not a crash", async () => {
    const dir = tmp();
    const { log, lines } = memLog();
    expect(await readState(join(dir, "absent.state"), log)).toBeNull();
    for (const junk of ["{", "[]", '{"version":2,"peers":[],"seen":[]}', '{"version":1,"peers":"x","seen":[]}']) {
      const p = join(dir, "bad.state");
      writeFileSync(p, junk);
      expect(await readState(p, log)).toBeNull();
    }
    expect(lines.filter((l) => l.includes("state file ignored")).length).toBe(4);
    const w = new StateWriter(join(dir, "no", "such", "dir.state"), () => ({ peers: [], seen: [] }), log);
    w.save();
    w.save(Date.now() + 1);
    expect(lines.filter((l) => l.includes("cannot write the state file")).length).toBe(1);
  });

  test("a node restarted with its state file rejoins through a peer it knew while its bootstrapper is gone for good", async () => {
    const [ka, kb, kc] = await testKeys(3);
    const dir = tmp();
    const path = join(dir, "c.state");
    const a = keep(startNode({ hostkey: ka! }));
    const b = keep(startNode({ hostkey: kb!, bootstrapper: a.p2pAddress }));
    await until(() => b.membership.active.has(a.id), 5000, "b joins a");
    const c = keep(startNode({ hostkey: kc!, bootstrapper: b.p2pAddress, state: { path, saved: null } }));
    await until(() => c.membership.active.has(a.id) && c.membership.active.has(b.id), 5000, "c knows a and b");
    await c.leave();
    const bootstrapper = b.p2pAddress;
    await b.leave();
    const saved = await readState(path, new Logger("silent", "t"));
    expect(saved?.peers).toContain(a.p2pAddress);
    const again = keep(startNode({ hostkey: kc!, bootstrapper, state: { path, saved } }));
    await until(() => again.membership.active.has(a.id), 5000, "the restarted node rejoins through a");
  });
});

describe("state file: what a restart may deliver again", () => {
  test("a clean stop saves at once: an item delivered less than STATE_WRITE_MS before leave() is not delivered again after the restart", async () => {
    const [ka, kb] = await testKeys(2);
    const dir = tmp();
    const path = join(dir, "b.state");
    const a = keep(startNode({ hostkey: ka! }));
    const b = keep(startNode({ hostkey: kb!, bootstrapper: a.p2pAddress, state: { path, saved: null } }));
    await until(() => b.membership.active.has(a.id), 5000, "b joins a");
    const sub = new Subscriber("valid");
    const client = await ApiClient.connect(...splitHostPort(b.apiAddress), { onFrame: (f) => sub.onFrame(f) });
    sub.client = client;
    client.notify(777);
    await client.flushed();
    await until(() => b.api.subscriberCount(777) === 1, 2000, "b's module subscribes");
    const pub = await ApiClient.connect(...splitHostPort(a.apiAddress));
    pub.announce(0, 777, new Uint8Array([7, 7]));
    await until(() => b.dissemination.stats.delivered === 1, 3000, "b delivers the item");
    const t0 = performance.now();
    await b.leave();
    // Well within one STATE_WRITE_MS: only the save at shutdown can have recorded the id.
    expect(performance.now() - t0).toBeLessThan(STATE_WRITE_MS);
    client.close();
    const saved = await readState(path, new Logger("silent", "t"));
    expect(saved?.seen.length).toBe(1);

    const again = keep(startNode({ hostkey: kb!, bootstrapper: a.p2pAddress, state: { path, saved } }));
    const sub2 = new Subscriber("valid");
    const client2 = await ApiClient.connect(...splitHostPort(again.apiAddress), { onFrame: (f) => sub2.onFrame(f) });
    sub2.client = client2;
    client2.notify(777);
    await client2.flushed();
    await until(() => again.membership.active.has(a.id), 5000, "b rejoins a");
    // a offers what it spread lately (offer_recent_ms) to its new neighbour: the saved id stops it.
    await Bun.sleep(500);
    expect(sub2.received.length).toBe(0);
    expect(again.dissemination.stats.delivered).toBe(0);
    client2.close();
    pub.close();
  });
});
