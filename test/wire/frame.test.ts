// The resumable frame decoder: any chunking of a stream yields the same frames in order;
// a bad declared size is refused as soon as it is readable; whole-chunk frames are views.

import { describe, expect, test } from "bun:test";
import { API_FRAME, encodeApi, MODULE_FRAME } from "../../src/wire/api.ts";
import { concat, fromHex, toHex } from "../../src/wire/bytes.ts";
import { WireCode } from "../../src/wire/errors.ts";
import { FrameDecoder, type FrameSpec } from "../../src/wire/frame.ts";
import { codeOf } from "../helpers/wire.ts";


/** Feeds the chunks in order and returns every frame as hex. */
function run(chunks: readonly Uint8Array[], spec: FrameSpec = API_FRAME): string[] {
  const d = new FrameDecoder(spec);
  const out: string[] = [];
  for (const c of chunks) for (const f of d.push(c)) out.push(toHex(f));
  expect(d.pending).toBe(0);
  return out;
}

const large = new Uint8Array(1500);
for (let i = 0; i < large.length; i++) large[i] = (i * 31 + 7) & 0xff;

const frames: readonly Uint8Array[] = [
  fromHex("000c 01f4 04 00 0539 deadbeef"),
  fromHex("0004 01f5"), // empty body: the smallest legal API frame
  fromHex("0008 01f5 0000 0539"),
  encodeApi({ kind: "notification", id: 9, dataType: 540, data: large }),
  fromHex("0004 ffff"), // the frame layer does not care about the type
  fromHex("0008 01f7 0007 0001"),
];
const stream = concat(frames);
const expected = frames.map(toHex);

describe("FrameDecoder chunking", () => {
  test("all in one chunk", () => {
    expect(run([stream])).toEqual(expected);
  });

  test("one byte at a time", () => {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
    expect(run(chunks)).toEqual(expected);
  });

  test("cut at every split point into two chunks", () => {
    for (let i = 0; i <= stream.length; i++) {
      const got = run([stream.subarray(0, i), stream.subarray(i)]);
      expect(got, `split at ${i}`).toEqual(expected);
    }
  });

  test("cut at every pair of split points into three chunks (small frames)", () => {
    const small = concat([frames[0]!, frames[1]!, frames[2]!, frames[5]!]);
    const want = [frames[0]!, frames[1]!, frames[2]!, frames[5]!].map(toHex);
    for (let i = 0; i <= small.length; i++) {
      for (let j = i; j <= small.length; j++) {
        const got = run([small.subarray(0, i), small.subarray(i, j), small.subarray(j)]);
        expect(got, `split at ${i},${j}`).toEqual(want);
      }
    }
  });

  test("chunks in separate buffers, cut at uneven points", () => {
    // Each chunk its own buffer, as socket reads deliver them.
    const chunks = [stream.slice(0, 5), stream.slice(5, 17), stream.slice(17, 900), stream.slice(900)];
    expect(run(chunks)).toEqual(expected);
  });

  test("a 65535-byte frame, in one chunk and one byte at a time", () => {
    const big = encodeApi({ kind: "announce", ttl: 0, dataType: 1, data: new Uint8Array(0xffff - 8).fill(3) });
    expect(big.byteLength).toBe(0xffff);
    const s = concat([big, frames[1]!]);
    const want = [toHex(big), toHex(frames[1]!)];
    expect(run([s])).toEqual(want);
    const d = new FrameDecoder(API_FRAME);
    const got: Uint8Array[] = [];
    for (let i = 0; i < s.length; i++) got.push(...d.push(s.subarray(i, i + 1)));
    expect(got.map(toHex)).toEqual(want);
    expect(d.pending).toBe(0);
  });

  test("a zero-length chunk yields nothing and changes nothing", () => {
    const d = new FrameDecoder(API_FRAME);
    expect(d.push(new Uint8Array(0))).toEqual([]);
    expect(d.pending).toBe(0);
    expect(d.push(stream.subarray(0, 3))).toEqual([]);
    expect(d.push(new Uint8Array(0))).toEqual([]);
    expect(d.pending).toBe(3);
    const out = d.push(stream.subarray(3, 12));
    expect(out.map(toHex)).toEqual([expected[0]!]);
    expect(d.push(new Uint8Array(0))).toEqual([]);
    expect(d.pending).toBe(0);
  });
});

describe("FrameDecoder size checks", () => {
  for (const size of [0, 1, 2, 3]) {
    const sizeHex = size.toString(16).padStart(4, "0");

    test(`declared size ${size} -> ERR_FRAME_TOO_SMALL with only the size bytes`, () => {
      const d = new FrameDecoder(API_FRAME);
      expect(codeOf(() => d.push(fromHex(sizeHex)))).toBe(WireCode.FrameTooSmall);
    });

    test(`declared size ${size} -> ERR_FRAME_TOO_SMALL when the size bytes are split`, () => {
      const d = new FrameDecoder(API_FRAME);
      expect(d.push(fromHex("00"))).toEqual([]);
      expect(d.pending).toBe(1);
      expect(codeOf(() => d.push(fromHex(sizeHex.slice(2))))).toBe(WireCode.FrameTooSmall);
    });

    test(`declared size ${size} after a good frame -> ERR_FRAME_TOO_SMALL`, () => {
      const d = new FrameDecoder(API_FRAME);
      expect(d.push(concat([frames[0]!, fromHex("00")])).map(toHex)).toEqual([expected[0]!]);
      expect(codeOf(() => d.push(fromHex(sizeHex.slice(2))))).toBe(WireCode.FrameTooSmall);
    });
  }

  test("declared size 4 (header only) is accepted", () => {
    expect(run([fromHex("0004 01f4")])).toEqual(["000401f4"]);
  });

  test("declared size 65535 is accepted and waits for the body", () => {
    const d = new FrameDecoder(API_FRAME);
    expect(d.push(fromHex("ffff 01f4"))).toEqual([]);
    expect(d.pending).toBe(4);
  });

  const wide: FrameSpec = { sizeBytes: 4, minSize: 6, maxSize: 1000 };

  test("4-byte size: 1001 -> ERR_FRAME_TOO_LARGE immediately", () => {
    const d = new FrameDecoder(wide);
    expect(codeOf(() => d.push(fromHex("000003e9")))).toBe(WireCode.FrameTooLarge);
  });

  test("4-byte size: 1001 split byte by byte -> ERR_FRAME_TOO_LARGE on the fourth byte", () => {
    const d = new FrameDecoder(wide);
    expect(d.push(fromHex("00"))).toEqual([]);
    expect(d.push(fromHex("00"))).toEqual([]);
    expect(d.push(fromHex("03"))).toEqual([]);
    expect(d.pending).toBe(3);
    expect(codeOf(() => d.push(fromHex("e9")))).toBe(WireCode.FrameTooLarge);
  });

  test("4-byte size: huge sizes -> ERR_FRAME_TOO_LARGE", () => {
    expect(codeOf(() => new FrameDecoder(wide).push(fromHex("ffffffff")))).toBe(WireCode.FrameTooLarge);
    expect(codeOf(() => new FrameDecoder(wide).push(fromHex("00010000")))).toBe(WireCode.FrameTooLarge);
  });

  test("4-byte size: 5 -> ERR_FRAME_TOO_SMALL", () => {
    expect(codeOf(() => new FrameDecoder(wide).push(fromHex("00000005")))).toBe(WireCode.FrameTooSmall);
  });

  test("4-byte size: 6 and 1000 are accepted", () => {
    const big = new Uint8Array(1000);
    big.set(fromHex("000003e8"));
    big.fill(0xee, 4);
    const s = concat([fromHex("00000006 abcd"), big, fromHex("00000006 0102")]);
    const want = ["00000006abcd", toHex(big), "000000060102"];
    expect(run([s], wide)).toEqual(want);
    for (let i = 0; i <= s.length; i += 7) {
      expect(run([s.subarray(0, i), s.subarray(i)], wide), `split at ${i}`).toEqual(want);
    }
  });
});

describe("FrameDecoder bookkeeping", () => {
  test("pending reports the bytes buffered toward the next frame", () => {
    const d = new FrameDecoder(API_FRAME);
    expect(d.pending).toBe(0);
    d.push(stream.subarray(0, 1));
    expect(d.pending).toBe(1);
    d.push(stream.subarray(1, 3));
    expect(d.pending).toBe(3);
    expect(d.push(stream.subarray(3, 12)).length).toBe(1);
    expect(d.pending).toBe(0);
    // The empty-body frame plus 5 bytes of the next one.
    expect(d.push(stream.subarray(12, 21)).length).toBe(1);
    expect(d.pending).toBe(5);
    expect(d.push(stream.subarray(21, 24)).length).toBe(1);
    expect(d.pending).toBe(0);
  });

  test("frames wholly inside one chunk are views of it", () => {
    const chunk = concat([frames[0]!, frames[1]!, frames[2]!]);
    const d = new FrameDecoder(API_FRAME);
    const out = d.push(chunk);
    expect(out.length).toBe(3);
    for (const f of out) expect(f.buffer === chunk.buffer).toBe(true);
    expect(out.map((f) => f.byteOffset)).toEqual([0, 12, 16]);
  });

  test("a frame after a split one is still a view of its own chunk (a read of 512 bytes or more)", () => {
    const a = stream.slice(0, 6);
    const b = stream.slice(6); // rest of frame 0, then the other frames
    const d = new FrameDecoder(API_FRAME);
    expect(d.push(a)).toEqual([]);
    const out = d.push(b);
    expect(out.map(toHex)).toEqual(expected);
    expect(out[1]!.buffer === b.buffer).toBe(true);
    expect(out[1]!.byteOffset).toBe(6);
  });

  test("a frame dribbled a byte per read costs about its bytes, not an object per read", () => {
    const frame = new Uint8Array(131_072);
    new DataView(frame.buffer).setUint32(0, frame.byteLength);
    for (let i = 4; i < frame.length; i++) frame[i] = i * 13;
    const spec: FrameSpec = { sizeBytes: 4, minSize: 4, maxSize: frame.byteLength };
    const d = new FrameDecoder(spec);
    const bytes = Array.from(frame, (b) => Uint8Array.of(b)); // the reads, made before measuring
    Bun.gc(true);
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < bytes.length - 1; i++) expect(d.push(bytes[i]!)).toEqual([]);
    Bun.gc(true);
    // Held as one object per read, the frame took about 100 bytes per byte (13 MB).
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(4 * frame.byteLength);
    const [out] = d.push(bytes[bytes.length - 1]!);
    expect(out).toEqual(frame);
  });

  test("a frame spanning chunks holds the right bytes", () => {
    const a = stream.slice(0, 6);
    const b = stream.slice(6, 12);
    const d = new FrameDecoder(API_FRAME);
    d.push(a);
    const [f] = d.push(b);
    expect(toHex(f!)).toBe(expected[0]!);
    expect(f!.byteLength).toBe(12);
  });
});

describe("feed: frames before a bad size field are still handed over", () => {
  test("a good NOTIFY followed by size 0 in the same chunk: NOTIFY delivered, then the error", () => {
    const d = new FrameDecoder(API_FRAME);
    const got: string[] = [];
    const code = codeOf(() =>
      d.feed(fromHex("0008 01f5 0000 0539 0000"), (f) => {
        got.push(toHex(f));
        return true;
      }),
    );
    expect(got).toEqual(["000801f500000539"]);
    expect(code).toBe(WireCode.FrameTooSmall);
  });

  test("onFrame returning false stops at once, leaving the rest buffered", () => {
    const d = new FrameDecoder(API_FRAME);
    const got: string[] = [];
    d.feed(fromHex("0008 01f5 0000 0539 0008 01f5 0000 053a"), (f) => {
      got.push(toHex(f));
      return false;
    });
    expect(got).toEqual(["000801f500000539"]);
    expect(d.pending).toBe(8);
  });
});

describe("a spec's header check (MODULE_FRAME: what a module may send)", () => {
  const good = concat([fromHex("000c 01f4 04 00 0539 deadbeef"), fromHex("0008 01f5 0000 0539"), fromHex("0008 01f7 0007 0001")]);

  test("good frames pass it under any chunking, its header read across chunks", () => {
    const want = run([good]);
    for (let i = 0; i <= good.length; i++) {
      for (let j = i; j <= good.length; j++) {
        const got = run([good.subarray(0, i), good.subarray(i, j), good.subarray(j)], MODULE_FRAME);
        expect(got, `split at ${i},${j}`).toEqual(want);
      }
    }
  });

  test("a frame its header condemns is refused once the header is in, before its body, however the header is cut", () => {
    for (const [head, code] of [
      ["ffff 01f5", WireCode.WrongSize],
      ["0010 01f7", WireCode.WrongSize],
      ["ffff 01f6", WireCode.UnexpectedType],
      ["0010 0208", WireCode.UnknownType],
    ] as const) {
      const bytes = concat([good, fromHex(head)]);
      for (let i = good.length; i < bytes.length; i++) {
        const d = new FrameDecoder(MODULE_FRAME);
        let frames = 0;
        const feed = (c: Uint8Array) =>
          d.feed(c, () => {
            frames++;
            return true;
          });
        feed(bytes.subarray(0, i));
        expect(codeOf(() => feed(bytes.subarray(i))), `${head} split at ${i}`).toBe(code);
        expect(frames).toBe(3);
      }
    }
  });
});
