// Entry point of the binary: the only place that touches process.exit and signals.

import { runCli } from "./cli/program.ts";

/**
 * Line output to a std stream that exit can wait for. A write to a pipe may complete long
 * after write() returns (the reader is slow); process.exit would drop what is still queued,
 * so every write keeps a promise of its completion and `flushed` resolves after the last one.
 * Writes complete in order, so the last one's callback means all are out. A closed stream
 * (the reader went away: EPIPE) counts as flushed, since nothing more can be delivered.
 */
function lineWriter(stream: NodeJS.WriteStream): { line(text: string): void; flushed(): Promise<void> } {
  let closed = false;
  const gone = new Promise<void>((resolve) => {
    const onGone = () => {
      closed = true;
      resolve();
    };
    stream.once("error", onGone);
    stream.once("close", onGone);
  });
  let last: Promise<void> = Promise.resolve();
  return {
    line(text) {
      if (closed) return;
      const written = new Promise<void>((resolve) => stream.write(`${text}\n`, () => resolve()));
      last = Promise.race([written, gone]);
    },
    flushed: () => last,
  };
}

const stdout = lineWriter(process.stdout);
const stderr = lineWriter(process.stderr);

const controller = new AbortController();
let signals = 0;
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    signals++;
    if (signals > 1) process.exit(130); // a second signal: stop waiting for a clean shutdown
    controller.abort(sig);
  });
}

const code = await runCli(process.argv.slice(2), {
  out: stdout.line,
  err: stderr.line,
  signal: controller.signal,
});
await Promise.all([stdout.flushed(), stderr.flushed()]);
process.exit(code);
