// The binary's stdout/stderr writer: waits for slow readers, and with a bound drops lines
// instead of queueing without end.

import { expect, test } from "bun:test";
import { Writable } from "node:stream";
import { lineWriter } from "../../src/util/line-writer.ts";

/** A stream whose reader is stalled until `drain` completes the writes it holds. */
function stalled() {
  const got: string[] = [];
  const held: (() => void)[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      got.push(String(chunk));
      held.push(done);
    },
  });
  /** Lets the reader catch up: completes held writes until `w` has flushed. */
  const catchUp = async (w: { flushed(): Promise<void> }) => {
    let done = false;
    void w.flushed().then(() => (done = true));
    while (!done) {
      while (held.length > 0) held.shift()!();
      await Bun.sleep(1);
    }
  };
  return { stream, got, catchUp };
}

test("bounded: past maxQueuedBytes unwritten, a line is refused (false); once the reader catches up, lines go out again", async () => {
  const s = stalled();
  const w = lineWriter(s.stream, 20);
  expect(w.line("123456789")).toBe(true); // 10 queued
  expect(w.line("123456789")).toBe(true); // 20 queued
  expect(w.line("x")).toBe(false);
  await s.catchUp(w);
  expect(w.line("after")).toBe(true);
  await s.catchUp(w);
  expect(s.got.join("")).toBe("123456789\n123456789\nafter\n");
});

test("unbounded (stdout): every line is kept for a stalled reader, and flushed() waits for the last", async () => {
  const s = stalled();
  const w = lineWriter(s.stream);
  for (let i = 0; i < 1000; i++) expect(w.line(`line ${i}`)).toBe(true);
  let done = false;
  void w.flushed().then(() => (done = true));
  await Bun.sleep(5);
  expect(done).toBe(false);
  await s.catchUp(w);
  expect(s.got.join("").split("\n").length - 1).toBe(1000);
});
