// The commander program: one .action() subcommand per file (a compiled single binary has no
// sibling executables). exitOverride + configureOutput keep it testable in-process.

import { Command, CommanderError } from "commander";
import { registerAnnounce } from "./announce.ts";
import { registerConfig } from "./config.ts";
import { CliExit, Exit, type CliIo } from "./io.ts";
import { registerNotify } from "./notify.ts";
import { registerRun } from "./run.ts";
import { registerSend } from "./send.ts";
import { registerStatus } from "./status.ts";

export const VERSION = "0.1.0";

export function buildProgram(io: CliIo): Command {
  const program = new Command("gossip")
    .description("VoidPhone Gossip: spread small items across a peer-to-peer network")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, "")),
      writeErr: (s) => io.err(s.replace(/\n$/, "")),
    })
    .exitOverride();
  registerRun(program, io);
  registerAnnounce(program, io);
  registerNotify(program, io);
  registerSend(program, io);
  registerStatus(program, io);
  registerConfig(program, io);
  // Subcommands inherit the in-process behaviour of the root.
  for (const c of program.commands) applyInProcess(c, io);
  return program;
}

function applyInProcess(cmd: Command, io: CliIo): void {
  cmd
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({
      writeOut: (s) => io.out(s.replace(/\n$/, "")),
      writeErr: (s) => io.err(s.replace(/\n$/, "")),
    });
  for (const c of cmd.commands) applyInProcess(c, io);
}

/** Runs the CLI on `args` (without the program name); resolves to the exit code. */
export async function runCli(args: readonly string[], io: CliIo): Promise<number> {
  const program = buildProgram(io);
  if (args.length === 0) {
    program.outputHelp({ error: true }); // a usage error: help on stderr, like `gossip config`
    return Exit.Usage;
  }
  try {
    await program.parseAsync([...args], { from: "user" });
    return Exit.Ok;
  } catch (e) {
    if (e instanceof CliExit) {
      if (e.message) io.err(`gossip: ${e.message}`);
      return e.code;
    }
    if (e instanceof CommanderError) {
      // Help asked for (--help, `help CMD`) and version are successes; help shown because the
      // command line was incomplete or wrong (`gossip config`, `gossip help nosuch`: commander
      // sets exitCode 1) and everything else commander rejects are usage errors (commander
      // already printed its message).
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.exitCode === 0) return Exit.Ok;
      return Exit.Usage;
    }
    io.err(`gossip: unexpected error: ${(e as Error)?.stack ?? String(e)}`);
    return Exit.Failure;
  }
}
