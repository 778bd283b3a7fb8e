// The binary never loses output: a subcommand's stdout reaches a slow reader in full before
// the process exits (process.exit right after an asynchronous pipe write used to drop all but
// the first 64 KiB). Runs the real process (`bun src/main.ts`) against a fake node that
// answers NOTIFY with one NOTIFICATION carrying the largest item the API allows.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { API_FRAME, decodeApi, encodeNotification, MAX_API_DATA } from "../../src/wire/api.ts";
import { toHex } from "../../src/wire/bytes.ts";
import { FrameDecoder } from "../../src/wire/frame.ts";
import { until } from "../helpers/testnet.ts";

const MAIN = join(import.meta.dir, "..", "..", "src", "main.ts");
const DATA = new Uint8Array(MAX_API_DATA).map((_, i) => i * 7);
const LINE = `${JSON.stringify({ id: 7, type: 540, data: toHex(DATA) })}\n`;

interface Conn {
  out: Uint8Array;
  validations: number;
  closed: boolean;
}

/** A fake node: each NOTIFY is answered with one NOTIFICATION (id 7) of MAX_API_DATA bytes. */
let server: TCPSocketListener<Conn>;
const conns: Conn[] = [];

function flush(sock: Socket<Conn>): void {
  const c = sock.data;
  while (c.out.byteLength > 0) {
    const n = sock.write(c.out);
    if (n <= 0) return;
    c.out = c.out.subarray(n);
  }
}

beforeAll(() => {
  server = Bun.listen<Conn>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(sock) {
        sock.data = { out: new Uint8Array(0), validations: 0, closed: false };
        Object.assign(sock.data, { decoder: new FrameDecoder(API_FRAME) });
        conns.push(sock.data);
      },
      data(sock, chunk) {
        const decoder = (sock.data as Conn & { decoder: FrameDecoder }).decoder;
        for (const f of decoder.push(chunk)) {
          const m = decodeApi(f);
          if (m.kind === "notify") {
            sock.data.out = encodeNotification({ id: 7, dataType: m.dataType, data: DATA });
            flush(sock);
          }
          if (m.kind === "validation") sock.data.validations++;
        }
      },
      drain: flush,
      close(sock) {
        sock.data.closed = true;
      },
    },
  });
});
afterAll(() => server.stop(true));

/**
 * Runs the CLI with its stdout on a real pipe (Bun.spawn's own pipes are drained eagerly by
 * the parent) whose reader does not read until the CLI has answered and closed its API
 * connection (what it does just before exiting), plus a grace period in which a CLI that
 * exits without flushing would have exited; only then is the pipe read.
 */
async function slowlyRead(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const dir = await mkdtemp(join(tmpdir(), "gossip-flush-"));
  const before = conns.length;
  const script =
    '{ "$@" 2> "$D/err"; echo $? > "$D/code"; } | { while [ ! -e "$D/go" ]; do sleep 0.02; done; cat > "$D/out"; }';
  const cli = [process.execPath, MAIN, ...args, "--api", `127.0.0.1:${server.port}`];
  const proc = Bun.spawn(["sh", "-c", script, "sh", ...cli], { env: { ...process.env, D: dir }, stdout: "ignore", stderr: "inherit" });
  try {
    await until(() => conns.length > before && conns[before]!.closed, 10_000, "the CLI closed its API connection");
    const exited = join(dir, "code");
    for (let t = 0; t < 15 && !(await Bun.file(exited).exists()); t++) await Bun.sleep(20);
    await writeFile(join(dir, "go"), "");
    expect(await proc.exited).toBe(0);
    const read = (f: string) => readFile(join(dir, f), "utf8");
    return { code: Number(await read("code")), out: await read("out"), err: await read("err") };
  } finally {
    proc.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

test("gossip notify --count 1: a 65527-byte item reaches a slow reader in full", async () => {
  const r = await slowlyRead("notify", "--type", "540", "--count", "1", "--timeout", "10");
  expect({ code: r.code, err: r.err, bytes: r.out.length }).toEqual({ code: 0, err: "", bytes: LINE.length });
  expect(r.out).toBe(LINE);
  expect(conns.at(-1)!.validations).toBe(1);
});

test("gossip send: every frame reaches a slow reader in full", async () => {
  const r = await slowlyRead("send", "--hex", "0008 01f5 0000 021c", "--timeout", "1");
  const frame = JSON.stringify({ kind: "notification", id: 7, type: 540, data: toHex(DATA) });
  expect({ code: r.code, err: r.err, bytes: r.out.length }).toEqual({ code: 0, err: "", bytes: frame.length + 1 });
  expect(r.out).toBe(`${frame}\n`);
});
