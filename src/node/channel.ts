// The secure channel: after the handshake every peer frame is sealed with AES-256-GCM under
// a per-direction key derived from the handshake's session key (itself from an X25519
// exchange whose public values both hostkey signatures cover). The nonce is a per-direction
// frame counter, so a frame that is tampered with, replayed, dropped or reordered fails to
// open, and the link is closed.
//
// Sealed frame: | size: u32 (whole frame) | ciphertext of (type u16 | body) | tag: 16 |,
// with the 4 size bytes as additional authenticated data.

import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { WireCode, WireError } from "../wire/errors.ts";
import type { FrameSpec } from "../wire/frame.ts";
import { P2P_MAX_FRAME } from "../wire/p2p.ts";

export const TAG_BYTES = 16;
export const SEALED_FRAME: FrameSpec = { sizeBytes: 4, minSize: 4 + 2 + TAG_BYTES, maxSize: P2P_MAX_FRAME + TAG_BYTES };
const CIPHER = "aes-256-gcm";
const LABEL = "voidphone-gossip-channel-v1";

export class ChannelError extends WireError {
  constructor(message: string) {
    super(WireCode.BadValue, message);
    this.name = "ChannelError";
  }
}

function directionKey(sessionKey: Uint8Array, direction: "joiner->acceptor" | "acceptor->joiner"): Buffer {
  return createHash("sha256").update(LABEL).update(sessionKey).update(direction).digest();
}

/** Both per-direction keys of a session (docs/PROTOCOL.md section 4.7). */
export function channelKeys(sessionKey: Uint8Array): { joinerToAcceptor: Uint8Array; acceptorToJoiner: Uint8Array } {
  return {
    joinerToAcceptor: new Uint8Array(directionKey(sessionKey, "joiner->acceptor")),
    acceptorToJoiner: new Uint8Array(directionKey(sessionKey, "acceptor->joiner")),
  };
}

/** Writes the 12-byte nonce for a frame counter into `nonce`: 00000000 | counter u64 BE. */
function writeNonce(nonce: Buffer, counter: bigint): Buffer {
  nonce.writeBigUInt64BE(counter, 4);
  return nonce;
}

/** The nonce of frame number `counter` in one direction. */
export function channelNonce(counter: bigint): Uint8Array {
  return new Uint8Array(writeNonce(Buffer.alloc(12), counter));
}

function sealWith(key: Uint8Array, nonce: Uint8Array, frame: Uint8Array): Uint8Array {
  const size = frame.byteLength + TAG_BYTES;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(size, 0);
  const c = createCipheriv(CIPHER, key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(out.subarray(0, 4));
  const ct = c.update(frame.subarray(4));
  c.final();
  out.set(ct, 4);
  c.getAuthTag().copy(out, size - TAG_BYTES);
  return out;
}

/** What SecureChannel.seal sends as frame number `counter` under `key` (a pure function). */
export function sealFrame(key: Uint8Array, counter: bigint, frame: Uint8Array): Uint8Array {
  return sealWith(key, channelNonce(counter), frame);
}

class Direction {
  private counter = 0n;
  private readonly nonce = Buffer.alloc(12);
  constructor(readonly key: Buffer) {}
  next(): Buffer {
    writeNonce(this.nonce, this.counter);
    this.counter++;
    return this.nonce;
  }
}

export class SecureChannel {
  private readonly out: Direction;
  private readonly in: Direction;

  constructor(sessionKey: Uint8Array, initiator: boolean) {
    const j2a = directionKey(sessionKey, "joiner->acceptor");
    const a2j = directionKey(sessionKey, "acceptor->joiner");
    this.out = new Direction(initiator ? j2a : a2j);
    this.in = new Direction(initiator ? a2j : j2a);
  }

  /** Seals a plaintext p2p frame (| size | type | body |) into a sealed frame. */
  seal(frame: Uint8Array): Uint8Array {
    return sealWith(this.out.key, this.out.next(), frame);
  }

  /** Opens a sealed frame back into a plaintext p2p frame; throws ChannelError if it fails. */
  open(sealed: Uint8Array): Uint8Array {
    const n = sealed.byteLength;
    const d = createDecipheriv(CIPHER, this.in.key, this.in.next(), { authTagLength: TAG_BYTES });
    d.setAAD(sealed.subarray(0, 4));
    d.setAuthTag(sealed.subarray(n - TAG_BYTES));
    const plain = d.update(sealed.subarray(4, n - TAG_BYTES));
    try {
      d.final();
    } catch {
      throw new ChannelError("sealed frame failed authentication (tampered, replayed, reordered or wrong key)");
    }
    const frame = new Uint8Array(4 + plain.byteLength);
    new DataView(frame.buffer).setUint32(0, frame.byteLength);
    frame.set(plain, 4);
    return frame;
  }
}
