// What a subcommand may touch: output lines, a stop signal, and an exit code. Nothing here
// calls process.exit, so the whole CLI runs in-process in tests.

export interface CliIo {
  /** One line on stdout (what scripts read). */
  out(line: string): void;
  /** One line on stderr (messages for humans); false: dropped, stderr is backed up (see Sink). */
  err(line: string): unknown;
  /** Aborted on SIGINT/SIGTERM in the binary; by the test otherwise. */
  readonly signal: AbortSignal;
}

/** Interrupted: SIGINT/SIGTERM stopped a command before it finished its work (128 + SIGINT, as shells report it). */
export const Exit = { Ok: 0, Failure: 1, Usage: 2, Interrupted: 130 } as const;
export type ExitCode = (typeof Exit)[keyof typeof Exit];

/** Thrown by a subcommand to end with a message and an exit code. */
export class CliExit extends Error {
  constructor(
    readonly code: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = "CliExit";
  }
}

export const usage = (message: string): CliExit => new CliExit(Exit.Usage, message);
export const failure = (message: string): CliExit => new CliExit(Exit.Failure, message);
export const interrupted = (message: string): CliExit => new CliExit(Exit.Interrupted, message);

/** Parses a decimal integer option within bounds, or throws a usage error naming the option. */
export function intOption(name: string, text: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim())) throw usage(`${name}: expected an integer ${min}-${max}, got ${JSON.stringify(text)}`);
  const n = Number(text.trim());
  if (n < min || n > max) throw usage(`${name}: expected an integer ${min}-${max}, got ${JSON.stringify(text)}`);
  return n;
}
