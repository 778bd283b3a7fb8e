// The admin listener at its connection cap, in a real `gossip run` under `ulimit -n 256`: held-open
// admin connections must not eat the descriptors the module API needs (the audit: 1,100 idle
// admin connections under ulimit -n 1024 and a module got nothing).

import { afterEach, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ApiClient } from "../../src/net/api-client.ts";
import { ADMIN_MAX_CONNECTIONS } from "../../src/node/admin.ts";
import { splitHostPort, until } from "../helpers/testnet.ts";

const MAIN = resolve(import.meta.dir, "../../src/main.ts");
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** Starts `gossip run -c FILE` under `ulimit -n`; resolves with its api and admin addresses. */
async function runNode(fdLimit: number): Promise<{ api: string; admin: string; pid: number; err: () => string }> {
  const dir = mkdtempSync(join(tmpdir(), "gossip-admin-cap-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const ini = join(dir, "n.ini");
  writeFileSync(ini, "[gossip]\np2p_address = 127.0.0.1:0\napi_address = 127.0.0.1:0\nadmin_address = 127.0.0.1:0\npow_bits = 4\nstate_dir = off\n");
  const proc = Bun.spawn(["sh", "-c", `ulimit -n ${fdLimit} && exec "$0" "$1" run -c "$2"`, process.execPath, MAIN, ini], { stdout: "pipe", stderr: "pipe" });
  cleanups.push(() => proc.kill("SIGKILL"));
  let out = "";
  let err = "";
  void (async () => {
    for await (const c of proc.stdout) out += new TextDecoder().decode(c);
  })();
  void (async () => {
    for await (const c of proc.stderr) err += new TextDecoder().decode(c);
  })();
  await until(() => /ready api=\S+/.test(out) && /admin=\S+/.test(err), 15_000, "the node is ready");
  return { api: out.match(/ready api=(\S+)/)![1]!, admin: err.match(/admin=(\S+)/)![1]!, pid: proc.pid, err: () => err };
}

test("admin connections past the cap are closed at once; the module API keeps serving under ulimit -n 256", async () => {
  const node = await runNode(256);
  const [host, port] = splitHostPort(node.admin);
  // Far more idle admin connections than the node has descriptors.
  const held: { closed: boolean }[] = [];
  const socks: Array<{ end(): void }> = [];
  for (let i = 0; i < 400; i++) {
    const st = { closed: false };
    held.push(st);
    socks.push(await Bun.connect({ hostname: host, port, socket: { data() {}, close: () => void (st.closed = true), error: () => void (st.closed = true) } }));
  }
  cleanups.push(() => socks.forEach((s) => s.end()));
  // Wait until the node has either refused what is past the cap or taken every descriptor it has
  // (the acceptor takes them in batches, not at connect time).
  const closed = () => held.filter((h) => h.closed).length;
  const fds = () => readdirSync(`/proc/${node.pid}/fd`).length;
  await until(() => closed() >= 400 - ADMIN_MAX_CONNECTIONS || fds() >= 250, 5000, "the node refuses or runs out of descriptors");

  // A module still gets another module's ANNOUNCE.
  const [ah, ap] = splitHostPort(node.api);
  let got = 0;
  const sub = await ApiClient.connect(ah, ap, { onFrame: (f) => void ("msg" in f && f.msg.kind === "notification" && got++) });
  const pub = await ApiClient.connect(ah, ap);
  cleanups.push(() => (sub.close(), pub.close()));
  sub.notify(540);
  await sub.flushed();
  await Bun.sleep(200);
  pub.announce(1, 540, new Uint8Array([1]));
  await until(() => got === 1, 5000, "the subscriber gets the announce");
  // Everything past the cap was refused (closed by the node) while the first ones stay open.
  expect(closed()).toBeGreaterThanOrEqual(400 - ADMIN_MAX_CONNECTIONS);
  expect(node.err()).not.toMatch(/EMFILE|too many open files/i);
}, 30_000);
