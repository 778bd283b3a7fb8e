// Small process helpers for the test bed: run a command and fail with its stderr, read a
// child's output line by line with deadlines.

export class CommandError extends Error {}

/** Runs `cmd` to completion; returns stdout, throws CommandError with stderr on a non-zero exit. */
export function sh(cmd: readonly string[], input?: string): string {
  const p = Bun.spawnSync([...cmd], { stdin: input === undefined ? "ignore" : Buffer.from(input), stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) {
    const why = p.stderr.toString().trim() || `exit ${p.exitCode ?? p.signalCode}`;
    throw new CommandError(`${cmd.join(" ")}: ${why}`);
  }
  return p.stdout.toString();
}

/** Whether a command exists on PATH. */
export function have(command: string): boolean {
  return Bun.which(command) !== null;
}

/** Lines of a child's stdout, awaited one at a time with a deadline. */
export class Lines {
  private readonly queue: string[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    void this.pump(stream);
  }

  /** The next line; throws if the stream ends or `deadlineMs` passes first. */
  async next(deadlineMs: number, what: string): Promise<string> {
    const end = performance.now() + deadlineMs;
    while (this.queue.length === 0) {
      if (this.ended) throw new Error(`${what}: the output ended`);
      const left = end - performance.now();
      if (left <= 0) throw new Error(`${what}: nothing within ${deadlineMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = null;
    }
    return this.queue.shift()!;
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    try {
      for await (const chunk of stream) {
        buf += dec.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          this.queue.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        this.waiter?.();
      }
    } catch {
      // The child went away: the stream ends.
    }
    this.ended = true;
    this.waiter?.();
  }
}

/** Polls `cond` every `everyMs` until it holds (true) or `deadlineMs` passes (false). */
export async function poll(cond: () => boolean | Promise<boolean>, deadlineMs: number, everyMs = 100): Promise<boolean> {
  const end = performance.now() + deadlineMs;
  for (;;) {
    if (await cond()) return true;
    if (performance.now() >= end) return false;
    await Bun.sleep(Math.min(everyMs, Math.max(1, end - performance.now())));
  }
}
