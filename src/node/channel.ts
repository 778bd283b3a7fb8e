// The secure channel: after the handshake every peer frame travels sealed with AES-256-GCM
// under a per-direction key derived from the handshake's session key (itself from an X25519
// exchange whose public values both hostkey signatures cover). The nonce is a per-direction
// record counter, so a record that is tampered with, replayed, dropped or reordered fails to
// open, and the link is closed.
//
// Version 3 record: | size: u32 (whole record) | ciphertext of (frame | frame | ...) | tag: 16 |,
// each inner frame a whole plain frame (| size u32 | type u16 | body |), at most
// RECORD_MAX_PLAIN bytes of them. Version 2 sealed frame: | size: u32 | ciphertext of
// (type u16 | body) | tag: 16 |, one frame each. Both with the 4 size bytes as additional
// authenticated data (docs/PROTOCOL.md sections 2.2 and 4.7).

import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { getU32 } from "../wire/bytes.ts";
import { WireCode, WireError } from "../wire/errors.ts";
import type { FrameSpec } from "../wire/frame.ts";
import { P2P_HEADER, P2P_MAX_FRAME, P2P_VERSION } from "../wire/p2p.ts";

export const TAG_BYTES = 16;
/**
 * Most plaintext bytes in one version-3 record: one frame of the largest size fits, and a
 * receiver never buffers more than one such frame (plus 20 bytes) before it can open a record.
 * Frames of one turn beyond it go into further records.
 */
export const RECORD_MAX_PLAIN = P2P_MAX_FRAME;
/** Version 2: one frame per sealed frame. */
export const SEALED_FRAME: FrameSpec = { sizeBytes: 4, minSize: 4 + 2 + TAG_BYTES, maxSize: P2P_MAX_FRAME + TAG_BYTES };
/** Version 3: a record carries at least one whole frame (an empty one is refused by its size). */
export const SEALED_RECORD: FrameSpec = { sizeBytes: 4, minSize: 4 + P2P_HEADER + TAG_BYTES, maxSize: 4 + RECORD_MAX_PLAIN + TAG_BYTES };
const CIPHER = "aes-256-gcm";
const LABEL = "voidphone-gossip-channel-v1";
const GCM = { authTagLength: TAG_BYTES } as const;

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

/** Writes the 12-byte nonce for a record counter into `nonce`: 00000000 | counter u64 BE. */
function writeNonce(nonce: Buffer, counter: bigint): Buffer {
  nonce.writeBigUInt64BE(counter, 4);
  return nonce;
}

/** The nonce of record number `counter` in one direction. */
export function channelNonce(counter: bigint): Uint8Array {
  return new Uint8Array(writeNonce(Buffer.alloc(12), counter));
}

/** The frame spec of what arrives sealed on a link of `version`. */
export function sealedSpec(version: number): FrameSpec {
  return version >= 3 ? SEALED_RECORD : SEALED_FRAME;
}

/**
 * One direction's key and record counter. A cipher object serves one record: node:crypto
 * cannot re-key or re-nonce one, and neither a KeyObject made once (slower in Bun 1.4.5) nor
 * WebCrypto (asynchronous, ten times slower per record) does better; docs/BENCHMARKS.md.
 */
class Direction {
  private readonly nonce = Buffer.alloc(12);
  /** `counter`: the number of the next record (not 0 only for the section 9 vectors). */
  constructor(
    readonly key: Uint8Array,
    private counter = 0n,
  ) {}
  /** Records sealed or opened so far in this direction (the next record's number). */
  get count(): bigint {
    return this.counter;
  }
  next(): Buffer {
    writeNonce(this.nonce, this.counter);
    this.counter++;
    return this.nonce;
  }
}

/**
 * Seals frames[from, to) (`plain` bytes of them) as one record at `out[at]`; returns where it
 * ends. Version 3 encrypts the frames whole, version 2 (one frame) without its size field.
 * One frame goes through the cipher as it is; several are first laid out in `out`, so the
 * cipher is called once (one native call instead of one per frame: about half the cost per
 * frame at 16 small frames), and its output is copied back in place.
 */
function sealInto(out: Buffer, at: number, d: Direction, frames: readonly Uint8Array[], from: number, to: number, plain: number, v3: boolean): number {
  const size = 4 + plain + TAG_BYTES;
  out.writeUInt32BE(size, at);
  const c = createCipheriv(CIPHER, d.key, d.next(), GCM);
  c.setAAD(out.subarray(at, at + 4));
  const body = at + 4;
  let ct: Buffer;
  if (to - from === 1) ct = c.update(v3 ? frames[from]! : frames[from]!.subarray(4));
  else {
    let p = body;
    for (let i = from; i < to; i++) {
      out.set(frames[i]!, p);
      p += frames[i]!.byteLength;
    }
    ct = c.update(out.subarray(body, p));
  }
  c.final();
  const tag = c.getAuthTag();
  if (ct.byteLength !== plain || tag.byteLength !== TAG_BYTES) throw new Error("AES-GCM returned an unexpected length");
  out.set(ct, body);
  out.set(tag, body + plain);
  return body + plain + TAG_BYTES;
}

/** What is sealed on the wire for `frames` in one turn: their records back to back. */
function sealAll(d: Direction, frames: readonly Uint8Array[], v3: boolean): Uint8Array {
  let total = 0;
  let records = 0;
  let plain = 0;
  for (const f of frames) {
    if (f.byteLength > RECORD_MAX_PLAIN) throw new RangeError(`frame of ${f.byteLength} bytes exceeds ${RECORD_MAX_PLAIN}`);
    // Version 2 seals each frame alone, the size field outside the ciphertext.
    if (!v3) total += f.byteLength + TAG_BYTES;
    else if (records === 0 || plain + f.byteLength > RECORD_MAX_PLAIN) {
      records++;
      plain = f.byteLength;
      total += 4 + f.byteLength + TAG_BYTES;
    } else {
      plain += f.byteLength;
      total += f.byteLength;
    }
  }
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  if (!v3) {
    for (let i = 0; i < frames.length; i++) at = sealInto(out, at, d, frames, i, i + 1, frames[i]!.byteLength - 4, false);
    return out;
  }
  let from = 0;
  plain = 0;
  for (let i = 0; i < frames.length; i++) {
    const n = frames[i]!.byteLength;
    if (i > from && plain + n > RECORD_MAX_PLAIN) {
      at = sealInto(out, at, d, frames, from, i, plain, true);
      from = i;
      plain = 0;
    }
    plain += n;
  }
  if (frames.length > 0) at = sealInto(out, at, d, frames, from, frames.length, plain, true);
  return out;
}

function openWith(d: Direction, record: Uint8Array): Buffer {
  const n = record.byteLength;
  const dc = createDecipheriv(CIPHER, d.key, d.next(), GCM);
  dc.setAAD(record.subarray(0, 4));
  dc.setAuthTag(record.subarray(n - TAG_BYTES));
  const plain = dc.update(record.subarray(4, n - TAG_BYTES));
  try {
    dc.final();
  } catch {
    throw new ChannelError("sealed record failed authentication (tampered, replayed, reordered, dropped or wrong key)");
  }
  return plain;
}

/**
 * The inner frames of an opened version-3 record, as views of it (no copies). Throws
 * WireError: an empty record, an inner size below the header or above P2P_MAX_FRAME, or a
 * frame running past the end of the record.
 */
export function splitRecord(plain: Uint8Array): Uint8Array[] {
  const n = plain.byteLength;
  if (n === 0) throw new WireError(WireCode.FrameTooSmall, "sealed record carries no frame");
  const frames: Uint8Array[] = [];
  for (let at = 0; at < n; ) {
    if (n - at < 4) throw new WireError(WireCode.Truncated, `inner frame at offset ${at} of a ${n}-byte record: ${n - at} bytes, no size field`);
    const size = getU32(plain, at);
    if (size < P2P_HEADER) throw new WireError(WireCode.FrameTooSmall, `inner frame at offset ${at}: declared size ${size} is below the minimum ${P2P_HEADER}`);
    if (size > P2P_MAX_FRAME) throw new WireError(WireCode.FrameTooLarge, `inner frame at offset ${at}: declared size ${size} is above the maximum ${P2P_MAX_FRAME}`);
    if (size > n - at) throw new WireError(WireCode.Truncated, `inner frame at offset ${at}: declared size ${size} runs past the end of the ${n}-byte record`);
    frames.push(plain.subarray(at, at + size));
    at += size;
  }
  return frames;
}

/** What SecureChannel.seal sends as record number `counter` under `key` for `frames` (a pure function). */
export function sealRecord(key: Uint8Array, counter: bigint, frames: readonly Uint8Array[], version = P2P_VERSION): Uint8Array {
  return sealAll(new Direction(key, counter), frames, version >= 3);
}

/** Version 2: the sealed frame number `counter` for one plain frame (pinned by the section 9 vectors). */
export function sealFrame(key: Uint8Array, counter: bigint, frame: Uint8Array): Uint8Array {
  return sealAll(new Direction(key, counter), [frame], false);
}

export class SecureChannel {
  private readonly out: Direction;
  private readonly in: Direction;
  private readonly v3: boolean;

  constructor(
    sessionKey: Uint8Array,
    initiator: boolean,
    /** The link's protocol version (from the handshake): 3 packs frames into records, 2 seals each alone. */
    readonly version = P2P_VERSION,
  ) {
    const j2a = directionKey(sessionKey, "joiner->acceptor");
    const a2j = directionKey(sessionKey, "acceptor->joiner");
    this.out = new Direction(initiator ? j2a : a2j);
    this.in = new Direction(initiator ? a2j : j2a);
    this.v3 = version >= 3;
  }

  /** What arrives sealed on this link: records (v3) or sealed frames (v2). */
  get spec(): FrameSpec {
    return sealedSpec(this.version);
  }

  /**
   * Seals plain p2p frames (| size | type | body |), in order, into one buffer of records:
   * as few as RECORD_MAX_PLAIN allows (version 3), or one per frame (version 2).
   */
  seal(frames: Uint8Array | readonly Uint8Array[]): Uint8Array {
    const list = frames instanceof Uint8Array ? [frames] : frames;
    this.framesSealed += list.length;
    return sealAll(this.out, list, this.v3);
  }

  /** Plain frames sealed so far. */
  framesSealed = 0;
  /** Records sealed so far (version 2: one per frame). */
  get recordsSealed(): number {
    return Number(this.out.count);
  }

  /**
   * Opens one record: its plaintext, i.e. the inner frames back to back (version 3, split
   * them with splitRecord) or the one plain frame (version 2). Throws ChannelError if the
   * record fails authentication.
   */
  open(record: Uint8Array): Uint8Array {
    if (this.v3) return openWith(this.in, record);
    // Version 2 leaves the size out of the ciphertext: rebuild the plain frame around it.
    const plain = openWith(this.in, record);
    const frame = Buffer.allocUnsafe(4 + plain.byteLength);
    frame.writeUInt32BE(frame.byteLength, 0);
    frame.set(plain, 4);
    return frame;
  }
}
