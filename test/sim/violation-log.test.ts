// Every "protocol violation, closing peer link" line names the connection (docs/PROTOCOL.md
// 2.3: link=N remote=HOST:PORT), the core's too (ERR_STATE, ERR_ITEM_ID), not only the
// transport's decoding errors: an operator greps one connection's story by it. On the
// simulator's virtual clock, with the log lines of the node collected.

import { expect, test } from "bun:test";
import { Latency, type MemLink } from "../../src/sim/network.ts";
import { World } from "../../src/sim/world.ts";
import { Probe, runUntil } from "../helpers/sim-probe.ts";

function world() {
  const lines: string[] = [];
  const w = new World({
    seed: 1,
    mode: "plumtree",
    latency: Latency.constant(5),
    settings: { shuffle_interval_ms: "3600000", refresh_interval_ms: "0" },
    logLevel: "warn",
    logSink: (l) => void lines.push(l),
  });
  return { w, lines };
}

/** The node's end of a probe's link: how the node's log names it. */
function named(l: MemLink): string {
  const end = l.other!;
  expect(end.num).toBeGreaterThan(0);
  return `link=${end.num} remote=${end.remote}`;
}

test("rule: an ERR_STATE line names the connection (link= and remote=)", () => {
  const { w, lines } = world();
  const a = w.addNode(null);
  const p = new Probe(w, 1);
  const l = p.connect(a);
  p.send(l, { kind: "prune" }); // not allowed before JOIN or NEIGHBOR
  runUntil(w, () => lines.some((x) => x.includes("code=ERR_STATE")), 1000, "the violation is logged");
  const line = lines.find((x) => x.includes("code=ERR_STATE"))!;
  expect(line).toContain("protocol violation, closing peer link");
  expect(line).toContain(named(l));
});

test("rule: an ERR_ITEM_ID line names the connection (link= and remote=)", () => {
  const { w, lines } = world();
  const a = w.addNode(null);
  const p = new Probe(w, 1);
  const l = p.join(a);
  p.send(l, { kind: "gossip", id: new Uint8Array(16), ttl: 2, hops: 1, salt: new Uint8Array(16), dataType: 1, data: new Uint8Array(1) });
  runUntil(w, () => lines.some((x) => x.includes("code=ERR_ITEM_ID")), 1000, "the violation is logged");
  expect(lines.find((x) => x.includes("code=ERR_ITEM_ID"))).toContain(named(l));
});
