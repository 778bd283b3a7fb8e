// One TCP connection with an outgoing queue. Bun's socket.write may accept fewer bytes than
// given; the rest waits here and is flushed on `drain`. A peer or module that stops reading
// makes the queue grow; past the high-water mark the connection is closed rather than
// buffering without bound.

import type { Socket } from "bun";
import { formatHostPort } from "../util/hostport.ts";

export interface ConnHandler {
  /** A chunk as read from the socket: any size, any split. */
  data(chunk: Uint8Array): void;
  /** Called once, when the connection is gone, with why. */
  close(reason: string): void;
}

export interface SocketSlot {
  conn: Conn | null;
}
export type Sock = Socket<SocketSlot>;

let nextId = 1;

/** Most bytes coalesced into one socket write. */
const WRITE_MAX = 256 * 1024;

/** The first k chunks of `parts` (n bytes in all) as one buffer. */
function concatFirst(parts: readonly Uint8Array[], k: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let off = 0;
  for (let i = 0; i < k; i++) {
    out.set(parts[i]!, off);
    off += parts[i]!.byteLength;
  }
  return out;
}

export { formatHostPort };

export class Conn {
  readonly id = nextId++;
  readonly remote: string;
  /** Our end's port (a dial's ephemeral port: how a node tells its own dial among its accepts). */
  readonly localPort: number;
  private queue: Uint8Array[] = [];
  private queued = 0;
  private handler: ConnHandler | null = null;
  private ending = false;
  private flushWaiters: Array<() => void> = [];
  /** A pump is queued for this turn's end. */
  private pumpScheduled = false;
  /** The kernel refused bytes: wait for `drain`. */
  private blocked = false;
  private reason: string | null = null;
  closed = false;

  constructor(
    private readonly sock: Sock,
    readonly highWater: number,
  ) {
    this.remote = formatHostPort(sock.remoteAddress, sock.remotePort);
    this.localPort = sock.localPort;
  }

  attach(handler: ConnHandler): void {
    this.handler = handler;
  }

  /** False once closed or closing: send() would refuse. */
  get writable(): boolean {
    return !this.closed && !this.ending;
  }

  /** Bytes accepted by send() and not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.queued;
  }

  /**
   * Queues bytes for sending. Returns false if the connection is closed, or if this send
   * pushed the queue past the high-water mark (the connection is then closed).
   * Everything sent in one turn of the event loop goes to the kernel in one write: under load
   * that is one syscall for many frames instead of one each.
   */
  send(bytes: Uint8Array): boolean {
    if (this.closed || this.ending) return false;
    this.queue.push(bytes);
    this.queued += bytes.byteLength;
    // Only a queue the kernel refused to take counts against the mark: what this turn sent is
    // about to be written.
    if (this.blocked && this.overHighWater()) return false;
    if (!this.pumpScheduled && !this.blocked) {
      this.pumpScheduled = true;
      queueMicrotask(() => this.pump());
    }
    return true;
  }

  /** Closes the connection if the refused queue is past the mark; true if it did. */
  private overHighWater(): boolean {
    if (this.queued <= this.highWater) return false;
    this.close(`send queue over high-water mark (${this.queued} > ${this.highWater} bytes): remote is not reading`);
    return true;
  }

  /** Hands queued bytes to the kernel until it takes no more (then `drain` resumes). */
  private pump(): void {
    this.pumpScheduled = false;
    while (this.queue.length > 0 && !this.closed) {
      let chunk: Uint8Array;
      if (this.queue.length === 1) chunk = this.queue[0]!;
      else {
        // Coalesce up to WRITE_MAX bytes into one write.
        let n = 0;
        let k = 0;
        while (k < this.queue.length && (k === 0 || n + this.queue[k]!.byteLength <= WRITE_MAX)) n += this.queue[k++]!.byteLength;
        chunk = k === 1 ? this.queue[0]! : concatFirst(this.queue, k, n);
        this.queue.splice(0, k, chunk);
      }
      const n = this.sock.write(chunk);
      if (n < 0) {
        this.close("socket closed while writing");
        return;
      }
      this.queued -= n;
      if (n < chunk.byteLength) {
        this.queue[0] = chunk.subarray(n);
        this.blocked = true;
        this.overHighWater();
        return;
      }
      this.queue.shift();
    }
    this.wakeFlushWaiters();
  }

  /** Resolves once everything sent so far has been handed to the kernel (or the conn closed). */
  flushed(): Promise<void> {
    if (this.queued === 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /** Graceful close: flushes the queue, then shuts the socket down. */
  async end(reason = "closed by us"): Promise<void> {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.reason ??= reason;
    await this.flushed();
    if (!this.closed) this.sock.end();
  }

  /** Immediate close: drops what is queued. The handler's close() follows. */
  close(reason: string): void {
    if (this.closed) return;
    this.reason ??= reason;
    this.queue = [];
    this.queued = 0;
    this.ending = true;
    this.sock.terminate();
  }

  // --- called by the socket glue in tcp.ts ---

  onData(chunk: Uint8Array): void {
    if (!this.closed && this.handler) this.handler.data(chunk);
  }

  onDrain(): void {
    this.blocked = false;
    this.pump();
  }

  onClose(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    this.wakeFlushWaiters();
    const reason = this.reason ?? (error ? `socket error: ${error.message}` : "closed by remote");
    this.handler?.close(reason);
  }

  private wakeFlushWaiters(): void {
    if (this.queued !== 0 && !this.closed) return;
    const ws = this.flushWaiters;
    this.flushWaiters = [];
    for (const w of ws) w();
  }
}
