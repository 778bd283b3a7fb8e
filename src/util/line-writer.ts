// Line output to stdout and stderr for the binary (src/main.ts).

/**
 * Line output to a std stream that exit can wait for. A write to a pipe may complete long
 * after write() returns (the reader is slow); process.exit would drop what is still queued,
 * so every write keeps a promise of its completion and `flushed` resolves after the last one.
 * Writes complete in order, so the last one's callback means all are out. A closed stream
 * (the reader went away: EPIPE) counts as flushed, since nothing more can be delivered.
 * With `maxQueuedBytes`, a line that would queue more than that (counted in characters) is not written and `line`
 * returns false (the logger counts it): a reader that stalls must not grow our memory.
 */
export function lineWriter(
  stream: NodeJS.WritableStream,
  maxQueuedBytes = Infinity,
): { line(text: string): boolean; flushed(): Promise<void> } {
  let closed = false;
  let queued = 0;
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
      if (closed) return true;
      const bytes = text.length + 1;
      if (queued + bytes > maxQueuedBytes) return false;
      queued += bytes;
      const written = new Promise<void>((resolve) =>
        stream.write(`${text}\n`, () => {
          queued -= bytes;
          resolve();
        }),
      );
      last = Promise.race([written, gone]);
      return true;
    },
    flushed: () => last,
  };
}
