// Entry point of the binary: the only place that touches process.exit and signals.

import { runCli } from "./cli/program.ts";
import { lineWriter } from "./util/line-writer.ts";

const stdout = lineWriter(process.stdout);
// Logs wait for a slow stderr reader up to 1 MiB, then are dropped (and counted); stdout,
// what scripts read, is never dropped.
const stderr = lineWriter(process.stderr, 1 << 20);

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
