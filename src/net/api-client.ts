// A module's side of the API: connect, send messages, receive decoded frames. Used by the
// CLI (announce / notify / send), by tests and by benchmarks.

import type { Logger } from "../util/log.ts";
import { silentLogger } from "../util/log.ts";
import { copyOf } from "../wire/bytes.ts";
import { API_FRAME, decodeApi, encodeAnnounce, encodeNotify, encodeValidation, type ApiMessage } from "../wire/api.ts";
import { isWireError } from "../wire/errors.ts";
import { FrameDecoder } from "../wire/frame.ts";
import type { Conn } from "./conn.ts";
import { connect } from "./tcp.ts";

/** A frame from Gossip: decoded, or raw when it could not be decoded. */
export type Incoming = { readonly msg: ApiMessage } | { readonly raw: Uint8Array; readonly error: string };

export interface ApiClientOptions {
  readonly onFrame?: (f: Incoming) => void;
  readonly timeoutMs?: number;
  readonly highWater?: number;
  readonly log?: Logger;
}

export class ApiClient {
  private readonly decoder = new FrameDecoder(API_FRAME);
  private closedReason: string | null = null;
  private closeWaiters: Array<(reason: string) => void> = [];

  private constructor(
    private conn: Conn,
    private readonly onFrame: (f: Incoming) => void,
  ) {}

  static async connect(host: string, port: number, opts: ApiClientOptions = {}): Promise<ApiClient> {
    let client: ApiClient | null = null;
    const onFrame = opts.onFrame ?? (() => {});
    const log = opts.log ?? silentLogger;
    await connect(host, port, { highWater: opts.highWater ?? 64 << 20, timeoutMs: opts.timeoutMs ?? 5000 }, (conn) => {
      client = new ApiClient(conn, onFrame);
      const c = client;
      return {
        data: (chunk) => c.onData(chunk),
        close: (reason) => {
          log.debug("api connection closed", { reason });
          c.onClose(reason);
        },
      };
    });
    return client!;
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  /** Resolves with the reason once the connection is closed (by either side). */
  whenClosed(): Promise<string> {
    if (this.closedReason !== null) return Promise.resolve(this.closedReason);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  notify(dataType: number): boolean {
    return this.conn.send(encodeNotify({ dataType }));
  }

  announce(ttl: number, dataType: number, data: Uint8Array): boolean {
    return this.conn.send(encodeAnnounce({ ttl, dataType, data }));
  }

  validate(id: number, valid: boolean): boolean {
    return this.conn.send(encodeValidation({ id, valid }));
  }

  sendRaw(bytes: Uint8Array): boolean {
    return this.conn.send(bytes);
  }

  /** Resolves once everything sent so far is handed to the kernel. */
  flushed(): Promise<void> {
    return this.conn.flushed();
  }

  /** Flushes what was sent, then closes. */
  async end(): Promise<void> {
    await this.conn.end("client done");
  }

  close(): void {
    this.conn.close("client closed");
  }

  private onData(chunk: Uint8Array): void {
    // feed, not push: push throws away the frames it already cut from this chunk when a later
    // size field is bad; feed hands each one over first, so every good frame before the bad
    // part is handled, then the bad part is reported.
    try {
      this.decoder.feed(chunk, (f) => {
        this.onDecoded(f);
        return !this.closed;
      });
    } catch (e) {
      if (!isWireError(e)) throw e;
      // What is left from the bad size field on (its start may lie in an earlier chunk).
      this.onFrame({ raw: copyOf(chunk.subarray(Math.max(0, chunk.byteLength - this.decoder.pending))), error: e.message });
      this.conn.close(`bad frame from gossip: ${e.message}`);
    }
  }

  private onDecoded(f: Uint8Array): void {
    try {
      this.onFrame({ msg: decodeApi(f) });
    } catch (e) {
      if (!isWireError(e)) throw e;
      this.onFrame({ raw: copyOf(f), error: e.message });
    }
  }

  private onClose(reason: string): void {
    this.closedReason = reason;
    const ws = this.closeWaiters;
    this.closeWaiters = [];
    for (const w of ws) w(reason);
  }
}
