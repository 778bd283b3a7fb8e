// Entry point of the binary: the only place that touches process.exit and signals.

import { runCli } from "./cli/program.ts";

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
  out: (line) => process.stdout.write(line + "\n"),
  err: (line) => process.stderr.write(line + "\n"),
  signal: controller.signal,
});
process.exit(code);
