// Careless local modules (issue 5): honest, but buggy or slow. One never reads, one never
// answers, one opens hundreds of connections, one announces faster than it may. The node
// must bound what each costs, say so in its log, and keep serving the other modules and its
// honest neighbour.

import { describe, expect, test } from "bun:test";
import { defaultConfig } from "../../src/config/load.ts";
import { RawModule, arena, defer, logged, sizes, useCleanup } from "../helpers/fake-module.ts";
import { until } from "../helpers/testnet.ts";

useCleanup();
const LIMIT = 20_000;

/** Sums the `dropped=N` fields of matching log lines. */
function droppedLogged(lines: readonly string[], what: string): number {
  return logged(lines, what).reduce((n, l) => n + Number(/ dropped=(\d+)/.exec(l)?.[1] ?? 0), 0);
}

describe("api_send_buffer_bytes: a module that never reads", () => {
  test("it is disconnected once its queue passes the limit, logged with why; a module that reads gets every item", async () => {
    const { target, traffic, lines } = await arena({ api_send_buffer_bytes: "65536" });
    const sleeper = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
    const reader = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
    sleeper.notify(700);
    reader.notify(700);
    await until(() => target.api.subscriberCount(700) === 2, 2000, "both subscribed");
    sleeper.pause();
    const announcer = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
    const big = new Uint8Array(60_000);
    // 200 x 60 kB: far more than the kernel buffers between us and the node hold.
    for (let burst = 0; burst < 10; burst++) {
      announcer.announceBurst(20, 700, (i) => (big.fill(burst * 20 + i), big));
      await Bun.sleep(5);
    }
    await until(() => target.api.subscriberCount(700) === 1, 5000, "the sleeper is disconnected");
    await until(() => reader.notifications.length === 200, 5000, "the reader gets all 200");
    const why = logged(lines, "module disconnected", "send queue over high-water mark");
    expect(why.length).toBe(1);
    expect(why[0]).toContain("remote is not reading");
    expect(sizes(target).apiConns).toBe(3); // honest subscriber, reader, announcer
    await traffic.flowing();
  }, LIMIT);
});

describe("validation_timeout_s and max_pending_validations: a module that never answers", () => {
  test("pending verdicts are capped (excess dropped, logged) and released by the timeout; honest items flow again", async () => {
    const { target, honest, traffic, lines } = await arena({ validation_timeout_s: "1", max_pending_validations: "16" });
    const mute = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
    mute.notify(701);
    await until(() => target.api.subscriberCount(701) === 1, 2000, "subscribed");
    const source = defer(await RawModule.connect(honest.apiAddress), (m) => m.close());
    source.announceBurst(50, 701, (i) => Uint8Array.of(i));
    await until(() => mute.notifications.length >= 16, 10_000, "the mute module is asked");
    expect(target.api.pendingCount).toBeLessThanOrEqual(16);
    await until(() => target.api.pendingCount === 0, 3000, "timeouts release the table");
    expect(mute.notifications.length).toBeLessThanOrEqual(16 + 2);
    expect(logged(lines, "items dropped: too many verdicts pending").length).toBeGreaterThan(0);
    expect(logged(lines, "item not forwarded", "verdict=timeout").length).toBeGreaterThanOrEqual(16 - 2);
    // Not answering is not a violation: the module stays connected.
    expect(mute.closed).toBe(false);
    await traffic.flowing();

    // Leaving with verdicts pending releases them at once.
    source.announceBurst(8, 701, (i) => Uint8Array.of(100 + i));
    await until(() => target.api.pendingCount > 0, 2000, "verdicts pending again");
    mute.close();
    await until(() => target.api.pendingCount === 0, 500, "released when the module leaves");
    await traffic.flowing();
  }, LIMIT);
});

describe("api_max_connections: a module that opens hundreds of connections", () => {
  test("connections past the limit are refused at once and logged; the modules already connected are served; freed slots can be used", async () => {
    const MAX = 50;
    const { target, traffic, lines } = await arena({ api_max_connections: String(MAX) });
    const base = sizes(target).apiConns;
    const N = 200;
    const mods = await RawModule.many(target.apiAddress, N);
    for (const m of mods) defer(m, (x) => x.close());
    const refused = N - (MAX - base);
    await until(() => mods.filter((m) => m.closed).length >= refused, 3000, `${refused} connections refused`);
    await Bun.sleep(50);
    expect(mods.filter((m) => m.closed).length).toBe(refused);
    expect(sizes(target).apiConns).toBe(MAX);
    expect(logged(lines, "module connection refused: too many connections", `max=${MAX}`).length).toBe(refused);
    await traffic.flowing();

    for (const m of mods) m.close();
    await until(() => sizes(target).apiConns === base, 3000, "the flood's connections gone");
    const late = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
    late.notify(540);
    await until(() => late.notifications.length > 0, 3000, "a late module is served");
  }, LIMIT);
});

describe("api_announces_per_s: a module that announces faster than it may", () => {
  test("announces past the rate are dropped and logged; what gets through is spread; memory stays bounded", async () => {
    const { target, honest, traffic, lines } = await arena({ api_announces_per_s: "50", cache_size: "50" });
    const watcher = defer(await RawModule.connect(honest.apiAddress), (m) => m.close());
    watcher.reply = true;
    watcher.notify(702);
    await until(() => honest.api.subscriberCount(702) === 1, 2000, "subscribed");
    const flooder = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
    const announced0 = target.dissemination.stats.announced;
    flooder.announceBurst(1000, 702, (i) => Uint8Array.of(i >> 8, i & 0xff));
    await until(() => logged(lines, "announces dropped: module over api_announces_per_s").length > 0, 2000, "the drop is logged");
    await traffic.flowing();
    const accepted = target.dissemination.stats.announced - announced0;
    expect(accepted).toBeGreaterThanOrEqual(50);
    expect(accepted).toBeLessThan(60);
    await until(() => watcher.notifications.length === accepted, 3000, "what got through arrives at the neighbour");
    expect(flooder.closed).toBe(false); // flooding is dropped, not punished
    // Past cache_size, items are held only for GRAFTs, and only up to graft_buffer_bytes.
    const held = sizes(target);
    expect(held.cache <= 50 || held.cacheBytes <= defaultConfig().graftBufferBytes).toBe(true);
    // The honest traffic goes on meanwhile (one item at a time through the target's module):
    // a verdict may be on its way at any instant, so wait for none left rather than sample.
    await until(() => sizes(target).pending === 0, 2000, "no verdict left pending");
  }, LIMIT);

  test("the log accounts for every dropped announce, not only the first of a burst", async () => {
    const { target, lines } = await arena({ api_announces_per_s: "50" });
    const flooder = defer(await RawModule.connect(target.apiAddress), (m) => m.close());
    const announced0 = target.dissemination.stats.announced;
    flooder.announceBurst(1000, 703, (i) => Uint8Array.of(i >> 8, i & 0xff));
    await until(() => target.dissemination.stats.announced - announced0 >= 50, 2000, "the burst handled");
    // The throttle lets one line through per second; give it more than that to report.
    await Bun.sleep(1500);
    const dropped = 1000 - (target.dissemination.stats.announced - announced0);
    expect(droppedLogged(lines, "announces dropped: module over api_announces_per_s")).toBe(dropped);
  }, LIMIT);
});
