// The client subcommands (announce, notify, send) and `run`, in-process through runCli,
// against a real single node on 127.0.0.1:0.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../src/cli/program.ts";
import type { Hostkey } from "../../src/config/hostkey.ts";
import { ApiClient } from "../../src/net/api-client.ts";
import type { GossipNode } from "../../src/node/node.ts";
import { memoryLogger } from "../../src/util/log.ts";
import type { Notification } from "../../src/wire/api.ts";
import { fromHex } from "../../src/wire/bytes.ts";
import { splitHostPort, startNode, testKeys, until, verdictOf } from "../helpers/testnet.ts";

interface Run {
  code: number;
  out: string[];
  err: string[];
}

/** Starts the CLI; `run.code` is filled in by `done`. Abort `stop` to interrupt it. */
function launch(...args: string[]): { run: Run; done: Promise<Run>; stop: AbortController } {
  const stop = new AbortController();
  const run: Run = { code: -1, out: [], err: [] };
  const io = { out: (l: string) => run.out.push(l), err: (l: string) => run.err.push(l), signal: stop.signal };
  const done = runCli(args, io).then((code) => Object.assign(run, { code }));
  return { run, done, stop };
}
const gossip = (...args: string[]) => launch(...args).done;

let key: Hostkey;
let node: GossipNode;
let api = "";
let lines: string[] = [];
let dir = "";
const connects = () => lines.filter((l) => l.includes("module connected")).length;

beforeAll(async () => {
  key = (await testKeys(1))[0]!;
  const mem = memoryLogger("debug");
  lines = mem.lines;
  node = startNode({ hostkey: key, keys: { validation_timeout_s: "1" }, log: mem.log });
  api = node.apiAddress;
  dir = await mkdtemp(join(tmpdir(), "gossip-cli-client-"));
});
afterAll(async () => {
  node.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Runs `body` with a module connection subscribed to 540 on the shared node. */
async function withSubscriber(body: (got: Notification[]) => Promise<void>): Promise<void> {
  await until(() => node.api.subscriberCount(540) === 0, 2000, "no earlier subscriber left");
  const got: Notification[] = [];
  const [host, port] = splitHostPort(api);
  const client = await ApiClient.connect(host, port, {
    onFrame: (f) => {
      if ("msg" in f && f.msg.kind === "notification") got.push({ ...f.msg, data: f.msg.data.slice() });
    },
  });
  try {
    client.notify(540);
    await until(() => node.api.subscriberCount(540) === 1, 2000, "subscribed");
    await body(got);
  } finally {
    client.close();
    await until(() => node.api.subscriberCount(540) === 0, 2000, "subscriber gone");
  }
}

describe("gossip announce", () => {
  test("exits 0 once written; another local subscriber of the type receives it", async () => {
    await withSubscriber(async (got) => {
      const r = await gossip("announce", "--type", "540", "--data", "deadbeef", "--api", api);
      expect([r.code, r.out, r.err]).toEqual([0, [], []]);
      await until(() => got.length === 1, 2000, "notification");
      expect([got[0]!.dataType, got[0]!.data]).toEqual([540, fromHex("deadbeef")]);
    });
  });

  test("bad options exit 2 with a message naming the option, and send nothing", async () => {
    await withSubscriber(async (got) => {
      const before = connects();
      const bad: [string[], string][] = [
        [["--data", "xyzw"], `--data: not hex: "xyzw"`],
        [["--data", "abc"], "--data: odd number of hex digits (3)"],
        [["--data", "00", "--type", "70000"], `--type: expected an integer 0-65535, got "70000"`],
        [["--data", "00", "--ttl", "300"], `--ttl: expected an integer 0-255, got "300"`],
        [["--data", "ab".repeat(65528)], "--data: 65528 bytes do not fit one message (at most 65527)"],
      ];
      for (const [args, message] of bad) {
        const r = await gossip("announce", "--type", "540", "--api", api, ...args);
        expect(r.code).toBe(2);
        expect(r.out).toEqual([]);
        expect(r.err.join("\n")).toContain(message);
      }
      // The largest item that fits is accepted: the limit is exactly one message.
      expect((await gossip("announce", "--type", "540", "--data", "ab".repeat(65527), "--api", api)).code).toBe(0);
      await until(() => got.length === 1, 2000, "the good announce");
      expect(got[0]!.data.byteLength).toBe(65527);
      expect(connects()).toBe(before + 1);
    });
  });

  test("an unreachable --api exits 1", async () => {
    const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = l.port;
    l.stop(true);
    const r = await gossip("announce", "--type", "540", "--data", "00", "--api", `127.0.0.1:${port}`);
    expect(r.code).toBe(1);
    expect(r.err.join("\n")).toContain(`cannot reach the gossip API at 127.0.0.1:${port}`);
  });
});

describe("gossip notify", () => {
  /** Starts notify on the shared node and feeds it one item from "a peer". */
  async function feed(data: string, ...args: string[]) {
    await until(() => node.api.subscriberCount(540) === 0, 2000, "no earlier subscriber left");
    const cli = launch("notify", "--type", "540", "--api", api, ...args);
    await until(() => node.api.subscriberCount(540) === 1, 2000, "notify subscribed");
    const verdict = verdictOf(node.api, 540, fromHex(data));
    return { ...cli, verdict };
  }
  const line = (data: string) => new RegExp(`^\\{"id":\\d{1,5},"type":540,"data":"${data}"\\}$`);

  test("prints one JSON line per notification and answers valid", async () => {
    const { done, verdict } = await feed("cafe01", "--count", "1", "--timeout", "5");
    expect(await verdict).toBe("valid");
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.out.length).toBe(1);
    expect(r.out[0]).toMatch(line("cafe01"));
  });

  test("--reply invalid answers invalid", async () => {
    const { done, verdict } = await feed("cafe02", "--count", "1", "--timeout", "5", "--reply", "invalid");
    expect(await verdict).toBe("invalid");
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.out).toHaveLength(1);
    expect(r.out[0]).toMatch(line("cafe02"));
  });

  test("--reply none lets the verdict time out; aborting the signal without --count exits 0", async () => {
    const { done, verdict, run, stop } = await feed("cafe03", "--reply", "none");
    expect(await verdict).toBe("timeout"); // validation_timeout_s = 1
    expect(run.code).toBe(-1); // still running
    expect(run.out).toHaveLength(1);
    expect(run.out[0]).toMatch(line("cafe03"));
    stop.abort();
    expect((await done).code).toBe(0);
  });

  test("with --count, Ctrl-C/SIGTERM before K notifications exits 130 (interrupted), as --help and README say", async () => {
    const { done, verdict, run, stop } = await feed("cafe04", "--count", "2", "--timeout", "30");
    expect(await verdict).toBe("valid");
    await until(() => run.out.length === 1, 2000, "one line printed");
    stop.abort();
    const r = await done;
    expect([r.code, r.err]).toEqual([130, ["gossip: interrupted with 1 of 2 notification(s)"]]);
  });

  test("exits 1 when --timeout passes before --count notifications", async () => {
    const r = await gossip("notify", "--type", "540", "--count", "1", "--timeout", "1", "--api", api);
    expect([r.code, r.out]).toEqual([1, []]);
    expect(r.err.join("\n")).toContain("timed out after 1 s with 0 of 1 notification(s)");
  });

  test("exits 1 when the node stops", async () => {
    const other = startNode({ hostkey: key });
    try {
      const cli = launch("notify", "--type", "540", "--api", other.apiAddress);
      await until(() => other.api.subscriberCount(540) === 1, 2000, "notify subscribed");
      other.stop();
      const r = await cli.done;
      expect(r.code).toBe(1);
      expect(r.err.join("\n")).toContain("the node closed the connection");
    } finally {
      other.stop();
    }
  });
});

describe("gossip send", () => {
  test('a malformed frame: the node closes the connection, {"kind":"closed"} is printed', async () => {
    const t0 = performance.now();
    const r = await gossip("send", "--hex", "0007 01f5 000000", "--timeout", "2", "--api", api);
    expect([r.code, r.out]).toEqual([0, ['{"kind":"closed"}']]);
    expect(performance.now() - t0).toBeLessThan(1900); // it did not wait for the timeout
  });

  test('the example of `send --help`: --hex 0003 (size below 4) prints {"kind":"closed"}', async () => {
    const r = await gossip("send", "--hex", "0003", "--timeout", "2", "--api", api);
    expect([r.code, r.out]).toEqual([0, ['{"kind":"closed"}']]);
  });
});

describe("gossip run", () => {
  test("prints exactly one ready line with the bound ports, serves the API, exits 0 on abort", async () => {
    const pem = key.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    await writeFile(join(dir, "k.pem"), pem, { mode: 0o600 });
    const ini = join(dir, "run.ini");
    const gossipKeys = "p2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\nlog_level = warn\npow_bits = 4";
    await writeFile(ini, `hostkey = k.pem\n[gossip]\n${gossipKeys}\n[rps]\nfoo = bar\n`);
    const { run, done, stop } = launch("run", "-c", ini);
    await until(() => run.out.length > 0 || run.code !== -1, 5000, "ready line");
    expect(run.out).toHaveLength(1);
    const m = /^ready api=127\.0\.0\.1:(\d+) p2p=127\.0\.0\.1:(\d+)$/.exec(run.out[0]!);
    expect(m).not.toBeNull();
    const [apiPort, p2pPort] = [Number(m![1]), Number(m![2])];
    expect(apiPort > 0 && p2pPort > 0 && apiPort !== p2pPort).toBe(true);
    const client = await ApiClient.connect("127.0.0.1", apiPort);
    expect(client.closed).toBe(false);
    client.close();
    stop.abort();
    expect((await done).code).toBe(0);
    expect(run.out).toHaveLength(1);
  });

  test("with advertise_address, the ready line still gives where it listens (the real port), then what it advertises", async () => {
    const ini = join(dir, "adv.ini");
    await writeFile(ini, "[gossip]\np2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\nadvertise_address = 127.0.0.1:45999\nlog_level = warn\npow_bits = 4\n");
    const { run, done, stop } = launch("run", "-c", ini);
    await until(() => run.out.length > 0 || run.code !== -1, 10_000, "ready line");
    const m = /^ready api=127\.0\.0\.1:(\d+) p2p=127\.0\.0\.1:(\d+) advertise=127\.0\.0\.1:45999$/.exec(run.out[0] ?? "");
    expect(m, run.out[0]).not.toBeNull();
    expect(Number(m![2])).not.toBe(45999);
    const peer = await Bun.connect({ hostname: "127.0.0.1", port: Number(m![2]), socket: { data() {} } });
    peer.end();
    stop.abort();
    expect((await done).code).toBe(0);
  });

  test("a missing config file exits 2 naming the path", async () => {
    const missing = join(dir, "missing.ini");
    const r = await gossip("run", "-c", missing);
    expect([r.code, r.out]).toEqual([2, []]);
    expect(r.err.join("\n")).toContain(`${missing}: cannot read config file: no such file (ENOENT)`);
  });

  test("a bad value exits 2 naming file, key and value", async () => {
    const ini = join(dir, "bad.ini");
    await writeFile(ini, "[gossip]\ndegree = abc\np2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\n");
    const r = await gossip("run", "-c", ini);
    expect([r.code, r.out]).toEqual([2, []]);
    expect(r.err).toContain(`gossip: ${ini} line 2 [gossip] degree: expected an integer 1-1000, got "abc"`);
  });
});

describe("usage", () => {
  const options: Record<string, string[]> = {
    run: ["--config", "--log-level"],
    announce: ["--type", "--data", "--ttl", "--api", "--config"],
    notify: ["--type", "--count", "--timeout", "--reply", "--api", "--config"],
    send: ["--hex", "--timeout", "--api", "--config"],
  };
  for (const [cmd, opts] of Object.entries(options)) {
    test(`${cmd} --help exits 0 and lists its options`, async () => {
      const r = await gossip(cmd, "--help");
      expect(r.code).toBe(0);
      const text = r.out.join("\n");
      expect(text).toContain(`Usage: gossip ${cmd}`);
      for (const o of opts) expect(text).toContain(o);
    });
  }

  test("an unknown subcommand or a missing required option exits 2", async () => {
    for (const args of [["frobnicate"], ["announce", "--type", "540"], ["announce", "--data", "00"], ["send"]]) {
      const r = await gossip(...args, "--api", api);
      expect([args, r.code, r.out]).toEqual([args, 2, []]);
      expect(r.err.join("\n").length).toBeGreaterThan(0);
    }
  });
});

// Regression: --type has the default [], which satisfies commander's `required`; without a
// check, `gossip notify` would subscribe to nothing and wait forever.
test("notify without --type is a usage error (exit 2)", async () => {
  const r = await gossip("notify", "--timeout", "1", "--api", api);
  expect([r.code, r.out]).toEqual([2, []]);
  expect(r.err.join("\n")).toContain("--type");
});

// Regression: a node that closes the connection at once (api_max_connections reached) made
// ApiClient.connect resolve to null, and the CLI die with "unexpected error: TypeError".
test("announce to a node at api_max_connections exits 1 with a clear message", async () => {
  const full = startNode({ hostkey: key, keys: { api_max_connections: "1" } });
  const [host, port] = splitHostPort(full.apiAddress);
  const holder = await ApiClient.connect(host, port);
  try {
    await until(() => full.api.connectionCount === 1, 2000, "one connection");
    const r = await gossip("announce", "--type", "540", "--data", "00", "--api", full.apiAddress);
    expect(r.code).toBe(1);
    expect(r.err.join("\n")).not.toContain("unexpected error");
    expect(r.err.join("\n")).toContain(`cannot reach the gossip API at ${full.apiAddress}`);
  } finally {
    holder.close();
    full.stop();
  }
});
