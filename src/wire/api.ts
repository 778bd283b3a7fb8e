// The VoidPhone Gossip API (normative): four messages, each `size u16 | type u16 | body`,
// big-endian, size counting the header. Encoders and decoders come in mirrored pairs.

import { getU16, setU16 } from "./bytes.ts";
import { WireCode, WireError } from "./errors.ts";
import type { FrameSpec } from "./frame.ts";

export const ApiType = {
  Announce: 500,
  Notify: 501,
  Notification: 502,
  Validation: 503,
} as const;
export type ApiType = (typeof ApiType)[keyof typeof ApiType];

export const API_HEADER = 4;
export const API_MAX_FRAME = 0xffff;
export const API_FRAME: FrameSpec = { sizeBytes: 2, minSize: API_HEADER, maxSize: API_MAX_FRAME };

/** Fixed parts of each body, so callers can size data before encoding. */
export const ANNOUNCE_MIN = API_HEADER + 4;
export const NOTIFY_SIZE = API_HEADER + 4;
export const NOTIFICATION_MIN = API_HEADER + 4;
export const VALIDATION_SIZE = API_HEADER + 4;
/** The most data one ANNOUNCE or NOTIFICATION can carry. */
export const MAX_API_DATA = API_MAX_FRAME - ANNOUNCE_MIN;

export interface Announce {
  readonly kind: "announce";
  readonly ttl: number;
  readonly dataType: number;
  readonly data: Uint8Array;
}
export interface Notify {
  readonly kind: "notify";
  readonly dataType: number;
}
export interface Notification {
  readonly kind: "notification";
  readonly id: number;
  readonly dataType: number;
  readonly data: Uint8Array;
}
export interface Validation {
  readonly kind: "validation";
  readonly id: number;
  readonly valid: boolean;
}
export type ApiMessage = Announce | Notify | Notification | Validation;
/** What a module may send to Gossip. */
export type ModuleMessage = Announce | Notify | Validation;

function header(size: number, type: ApiType): Uint8Array {
  if (size > API_MAX_FRAME) {
    throw new WireError(WireCode.FrameTooLarge, `message of ${size} bytes exceeds ${API_MAX_FRAME}`);
  }
  const out = new Uint8Array(size);
  setU16(out, 0, size);
  setU16(out, 2, type);
  return out;
}

function checkU(name: string, value: number, bits: 8 | 16): void {
  const max = bits === 8 ? 0xff : 0xffff;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new WireError(WireCode.BadValue, `${name} must be an integer 0-${max}, got ${value}`);
  }
}

/** Reads and checks the header: declared size equals the frame length, type as expected. */
function open(frame: Uint8Array, type: ApiType, min: number, exact: boolean): void {
  if (frame.byteLength < API_HEADER) {
    throw new WireError(WireCode.Truncated, `frame of ${frame.byteLength} bytes is shorter than the header`);
  }
  const size = getU16(frame, 0);
  if (size !== frame.byteLength) {
    throw new WireError(WireCode.WrongSize, `declared size ${size} but frame has ${frame.byteLength} bytes`);
  }
  const t = getU16(frame, 2);
  if (t !== type) throw new WireError(WireCode.UnexpectedType, `expected type ${type}, got ${t}`);
  checkSize(type, size, min, exact);
}

function checkSize(type: ApiType, size: number, min: number, exact: boolean): void {
  if (exact && size !== min) {
    throw new WireError(WireCode.WrongSize, `type ${type} must be exactly ${min} bytes, got ${size}`);
  }
  if (size < min) throw new WireError(WireCode.Truncated, `type ${type} needs at least ${min} bytes, got ${size}`);
}

const unknownType = (t: number) => new WireError(WireCode.UnknownType, `unknown message type ${t}`);
const notificationToGossip = (t: number) =>
  new WireError(WireCode.UnexpectedType, `type ${t} (GOSSIP NOTIFICATION) is sent by Gossip, not to it`);

/**
 * What Gossip reads from a module, framed: a message is judged by its type and declared size
 * as soon as its header is in, so a frame that can only be refused (a NOTIFICATION, an
 * unknown type, a NOTIFY or VALIDATION not 8 bytes long) closes the connection before its
 * body is awaited, with the code its decoding would have given.
 */
export const MODULE_FRAME: FrameSpec = {
  ...API_FRAME,
  header: {
    bytes: API_HEADER,
    check(head, size) {
      const t = getU16(head, 2);
      switch (t) {
        case ApiType.Announce:
          return checkSize(t, size, ANNOUNCE_MIN, false);
        case ApiType.Notify:
          return checkSize(t, size, NOTIFY_SIZE, true);
        case ApiType.Validation:
          return checkSize(t, size, VALIDATION_SIZE, true);
        case ApiType.Notification:
          throw notificationToGossip(t);
        default:
          throw unknownType(t);
      }
    },
  },
};

export function encodeAnnounce(m: Omit<Announce, "kind">): Uint8Array {
  checkU("ttl", m.ttl, 8);
  checkU("data type", m.dataType, 16);
  const out = header(ANNOUNCE_MIN + m.data.byteLength, ApiType.Announce);
  out[4] = m.ttl;
  out[5] = 0;
  setU16(out, 6, m.dataType);
  out.set(m.data, ANNOUNCE_MIN);
  return out;
}

export function decodeAnnounce(frame: Uint8Array): Announce {
  open(frame, ApiType.Announce, ANNOUNCE_MIN, false);
  // The reserved byte is ignored, as reserved fields are meant to be.
  return { kind: "announce", ttl: frame[4]!, dataType: getU16(frame, 6), data: frame.subarray(ANNOUNCE_MIN) };
}

export function encodeNotify(m: Omit<Notify, "kind">): Uint8Array {
  checkU("data type", m.dataType, 16);
  const out = header(NOTIFY_SIZE, ApiType.Notify);
  setU16(out, 6, m.dataType);
  return out;
}

export function decodeNotify(frame: Uint8Array): Notify {
  open(frame, ApiType.Notify, NOTIFY_SIZE, true);
  return { kind: "notify", dataType: getU16(frame, 6) };
}

export function encodeNotification(m: Omit<Notification, "kind">): Uint8Array {
  checkU("message id", m.id, 16);
  checkU("data type", m.dataType, 16);
  const out = header(NOTIFICATION_MIN + m.data.byteLength, ApiType.Notification);
  setU16(out, 4, m.id);
  setU16(out, 6, m.dataType);
  out.set(m.data, NOTIFICATION_MIN);
  return out;
}

export function decodeNotification(frame: Uint8Array): Notification {
  open(frame, ApiType.Notification, NOTIFICATION_MIN, false);
  return { kind: "notification", id: getU16(frame, 4), dataType: getU16(frame, 6), data: frame.subarray(NOTIFICATION_MIN) };
}

export function encodeValidation(m: Omit<Validation, "kind">): Uint8Array {
  checkU("message id", m.id, 16);
  const out = header(VALIDATION_SIZE, ApiType.Validation);
  setU16(out, 4, m.id);
  setU16(out, 6, m.valid ? 1 : 0);
  return out;
}

export function decodeValidation(frame: Uint8Array): Validation {
  open(frame, ApiType.Validation, VALIDATION_SIZE, true);
  // Only the least significant bit is V; the other 15 bits are reserved and ignored.
  return { kind: "validation", id: getU16(frame, 4), valid: (frame[7]! & 1) === 1 };
}

export function frameType(frame: Uint8Array): number {
  if (frame.byteLength < API_HEADER) {
    throw new WireError(WireCode.Truncated, `frame of ${frame.byteLength} bytes is shorter than the header`);
  }
  return getU16(frame, 2);
}

/** Decodes any of the four messages. */
export function decodeApi(frame: Uint8Array): ApiMessage {
  const t = frameType(frame);
  switch (t) {
    case ApiType.Announce:
      return decodeAnnounce(frame);
    case ApiType.Notify:
      return decodeNotify(frame);
    case ApiType.Notification:
      return decodeNotification(frame);
    case ApiType.Validation:
      return decodeValidation(frame);
    default:
      throw unknownType(t);
  }
}

/** Decodes what a module may send (500, 501, 503); anything else is a protocol violation. */
export function decodeModuleMessage(frame: Uint8Array): ModuleMessage {
  const t = frameType(frame);
  if (t === ApiType.Notification) throw notificationToGossip(t);
  return decodeApi(frame) as ModuleMessage;
}

export function encodeApi(m: ApiMessage): Uint8Array {
  switch (m.kind) {
    case "announce":
      return encodeAnnounce(m);
    case "notify":
      return encodeNotify(m);
    case "notification":
      return encodeNotification(m);
    case "validation":
      return encodeValidation(m);
  }
}
