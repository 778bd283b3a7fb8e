// A node (here a fake one on 127.0.0.1:0) that sends good frames and a bad one in one write:
// `send` prints every good frame, then the bad part; `notify` handles every good one.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { encodeNotification } from "../../src/wire/api.ts";
import { concat, fromHex } from "../../src/wire/bytes.ts";
import { runGossip } from "../helpers/cli.ts";

const n1 = encodeNotification({ id: 1, dataType: 540, data: fromHex("aa") });
const n2 = encodeNotification({ id: 2, dataType: 540, data: fromHex("bbcc") });
const BAD = fromHex("0002ffff"); // declared size 2: below the 4-byte minimum
let server: Bun.TCPSocketListener<undefined>;
let api = "";

beforeAll(() => {
  server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      // One write, so the client reads good and bad bytes in the same chunk.
      open: (s) => void s.write(concat([n1, n2, BAD])),
      data() {},
    },
  });
  api = `127.0.0.1:${server.port}`;
});
afterAll(() => {
  server.stop(true);
});

describe("good frames in the same read as a bad one", () => {
  test("send prints each good frame, then the bad part, then closed", async () => {
    const r = await runGossip(["send", "--hex", "0008 01f5 0000 021c", "--timeout", "5", "--api", api]);
    expect([r.code, r.err]).toEqual([0, []]);
    expect(r.out).toEqual([
      '{"kind":"notification","id":1,"type":540,"data":"aa"}',
      '{"kind":"notification","id":2,"type":540,"data":"bbcc"}',
      '{"kind":"undecodable","error":"declared frame size 2 is below the minimum 4","hex":"0002ffff"}',
      '{"kind":"closed"}',
    ]);
  });

  test("notify --count 2 handles both notifications before the bad part", async () => {
    const r = await runGossip(["notify", "--type", "540", "--count", "2", "--timeout", "5", "--api", api]);
    expect(r.out).toEqual(['{"id":1,"type":540,"data":"aa"}', '{"id":2,"type":540,"data":"bbcc"}']);
    expect([r.code, r.err]).toEqual([0, []]);
  });
});
