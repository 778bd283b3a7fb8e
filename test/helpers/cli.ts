// The CLI in-process (commander's exitOverride/configureOutput habit): exit code and the lines
// it printed, for tests.

import { runCli } from "../../src/cli/program.ts";

export interface CliRun {
  code: number;
  out: string[];
  err: string[];
}

/** Runs `gossip ARGS`; `signal` stands for SIGINT/SIGTERM (an aborted one stops `run` at once). */
export async function runGossip(args: string[], signal: AbortSignal = new AbortController().signal): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (l) => out.push(l), err: (l) => err.push(l), signal });
  return { code, out, err };
}
