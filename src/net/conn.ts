// One TCP connection with an outgoing queue. Bun's socket.write may accept fewer bytes than
// given; the rest waits here and is flushed on `drain`. A peer or module that stops reading
// makes the queue grow; past the high-water mark the connection is closed rather than
// buffering without bound.

import type { Socket } from "bun";

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

export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export class Conn {
  readonly id = nextId++;
  readonly remote: string;
  private queue: Uint8Array[] = [];
  private queued = 0;
  private handler: ConnHandler | null = null;
  private ending = false;
  private flushWaiters: Array<() => void> = [];
  private reason: string | null = null;
  closed = false;

  constructor(
    private readonly sock: Sock,
    readonly highWater: number,
  ) {
    this.remote = formatHostPort(sock.remoteAddress, sock.remotePort);
  }

  attach(handler: ConnHandler): void {
    this.handler = handler;
  }

  /** Bytes accepted by send() and not yet handed to the kernel. */
  get queuedBytes(): number {
    return this.queued;
  }

  /**
   * Queues bytes for sending. Returns false if the connection is closed, or if this send
   * pushed the queue past the high-water mark (the connection is then closed).
   */
  send(bytes: Uint8Array): boolean {
    if (this.closed || this.ending) return false;
    if (this.queued === 0) {
      const n = this.sock.write(bytes);
      if (n < 0) {
        this.close("socket closed while writing");
        return false;
      }
      if (n === bytes.byteLength) return true;
      bytes = bytes.subarray(n);
    }
    this.queue.push(bytes);
    this.queued += bytes.byteLength;
    if (this.queued > this.highWater) {
      this.close(`send queue over high-water mark (${this.queued} > ${this.highWater} bytes): remote is not reading`);
      return false;
    }
    return true;
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
    while (this.queue.length > 0 && !this.closed) {
      const head = this.queue[0]!;
      const n = this.sock.write(head);
      if (n < 0) return;
      this.queued -= Math.max(n, 0);
      if (n < head.byteLength) {
        this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
    }
    this.wakeFlushWaiters();
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
