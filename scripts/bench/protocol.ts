// What the bench parent and its worker processes say to each other over Bun's IPC channel,
// and the layout of the data a benchmark item carries. One request, one reply, matched by id.

import { getU16, getU32 } from "../../src/wire/bytes.ts";

/** Data type of benchmark items (any u16 outside the VoidPhone module ranges would do). */
export const BENCH_DATA_TYPE = 4242;
const MAGIC = 0x47424e43; // "GBNC"
/** magic u32, phase u16, reserved u16, origin u32, item u32, sentAt f64 (ms since the epoch). */
export const ITEM_HEADER = 24;

export interface ItemStamp {
  /** Which part of the experiment (warm-up, measured window, a throughput step, ...). */
  readonly phase: number;
  /** Global index of the origin node. */
  readonly origin: number;
  readonly item: number;
  /** performance.timeOrigin + performance.now() at the origin when it announced: comparable across processes. */
  readonly sentAt: number;
}

export function encodeItem(s: ItemStamp, size: number): Uint8Array {
  const out = new Uint8Array(Math.max(ITEM_HEADER, size));
  const v = new DataView(out.buffer);
  v.setUint32(0, MAGIC);
  v.setUint16(4, s.phase);
  v.setUint32(8, s.origin);
  v.setUint32(12, s.item);
  v.setFloat64(16, s.sentAt);
  return out;
}

/** Eight bytes to read a float64 through (no DataView per item: that would make JSC allocate the data's ArrayBuffer). */
const f64 = new DataView(new ArrayBuffer(8));

/** null for data that is not a benchmark item (too short, wrong magic). */
export function decodeItem(data: Uint8Array): ItemStamp | null {
  if (data.byteLength < ITEM_HEADER) return null;
  if (getU32(data, 0) !== MAGIC) return null;
  for (let i = 0; i < 8; i++) f64.setUint8(i, data[16 + i]!);
  return { phase: getU16(data, 4), origin: getU32(data, 8), item: getU32(data, 12), sentAt: f64.getFloat64(0) };
}

/** Wall-clock milliseconds with sub-ms precision, the same clock in every process of the machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export interface NodeView {
  readonly idx: number;
  /** Active view: global indices of the neighbours (mapped by the worker from peer ids it knows). */
  readonly active: readonly string[];
  readonly id: string;
}

export interface WorkerStats {
  gossipSent: number;
  ihaveSent: number;
  graftSent: number;
  /** GRAFT timers that fired late and waited once more (Dissemination.stats.graftDeferred). */
  graftDeferred: number;
  /** GRAFTed ids no longer held, past the knowledge base and the GRAFT hold (Dissemination.stats.graftMissed). */
  graftMissed: number;
  pruneSent: number;
  delivered: number;
  duplicates: number;
  rateLimited: number;
  dropped: number;
  queueDropped: number;
  /** Sealed records sent to peers, and the peer frames in them (frames per record). */
  sealedRecords: number;
  sealedFrames: number;
  /** process.cpuUsage(): user + system, microseconds since the worker started. */
  cpuUs: number;
  rss: number;
  heapUsed: number;
  /** RSS measured before any node was started: the cost of an empty worker. */
  rssBaseline: number;
  liveNodes: number;
  /** Largest send queue on any peer link now, bytes; and verdicts pending at API servers. */
  peerQueueBytes: number;
  pendingVerdicts: number;
  /** Notifications the subscribing modules could not make sense of, or got twice. */
  badNotifications: number;
}

/** Per-item delivery counts at subscribing modules: parallel arrays. */
export interface Counts {
  readonly items: Float64Array;
  readonly counts: Float64Array;
  /** Largest (arrival - sentAt) of the item so far, ms. */
  readonly maxLatency: Float64Array;
}

/** Every delivery of a detailed phase, as flat triples. */
export interface Detail {
  /** node, item, latency ms (at the subscribing module). */
  readonly deliveries: Float64Array;
  /** node, item, hops (as the node reported on delivery). */
  readonly hops: Float64Array;
}

/** One node's view of its neighbourhood, for diagnostics. */
export interface NodeInfo {
  readonly active: number;
  readonly eager: number;
  readonly lazy: number;
  readonly gossipSent: number;
  readonly ihaveSent: number;
}

export interface ScheduleResult {
  readonly sent: number;
  /** ms from the first to the last announce; how far the announcer fell behind the schedule. */
  readonly elapsedMs: number;
  readonly maxBehindMs: number;
  readonly peerQueueMaxBytes: number;
  readonly pendingMax: number;
}

export interface Commands {
  init: { args: { worker: number; indices: number[]; bits: number; logLevel: string; payload: number }; result: { rssBaseline: number } };
  start: {
    args: { indices: number[]; bootstrapper: string | null; settings: Record<string, string>; staggerMs: number };
    result: { idx: number; p2p: string; api: string }[];
  };
  views: { args: Record<string, never>; result: NodeView[] };
  phase: { args: { phase: number; detail: boolean }; result: null };
  announce: { args: { idx: number; phase: number; item: number }; result: { sentAt: number } };
  schedule: {
    args: { phase: number; rate: number; seconds: number; origins: number[]; stride: number; offset: number };
    result: ScheduleResult;
  };
  counts: { args: { phase: number }; result: Counts };
  detail: { args: { phase: number }; result: Detail };
  stats: { args: { gc: boolean }; result: WorkerStats };
  kill: { args: { indices: number[] }; result: { at: number } };
  inspect: { args: { idx: number }; result: NodeInfo | null };
  shutdown: { args: Record<string, never>; result: null };
}
export type Command = keyof Commands;

export interface Request<K extends Command = Command> {
  readonly id: number;
  readonly cmd: K;
  readonly args: Commands[K]["args"];
}
export type Reply = { readonly id: number; readonly ok: true; readonly result: unknown } | { readonly id: number; readonly ok: false; readonly error: string };
