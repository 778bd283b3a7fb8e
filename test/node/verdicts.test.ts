import { describe, expect, test } from "bun:test";
import { VerdictTable, type Subscriber, type Verdict } from "../../src/node/verdicts.ts";
import { SimClock } from "../../src/sim/clock.ts";

const sub = (id: number): Subscriber => ({ id });
const [A, B, C] = [sub(1), sub(2), sub(3)];
/** Long enough that no test here sees a timeout it did not ask for. */
const LONG = 60_000;

/** The verdict if it has settled by now (after pending microtasks), else "pending". */
async function peek(p: Promise<Verdict>): Promise<Verdict | "pending"> {
  return await Promise.race([p, Bun.sleep(0).then(() => "pending" as const)]);
}

function open(t: VerdictTable, subs: Subscriber[], gating = true): { id: number; verdict: Promise<Verdict> } {
  let settle!: (v: Verdict) => void;
  const verdict = new Promise<Verdict>((resolve) => (settle = resolve));
  const id = t.open(subs, gating, settle);
  if (id === null) throw new Error("table unexpectedly full");
  return { id, verdict };
}

const ignore = (): void => {};

describe("VerdictTable ids", () => {
  test("ids are unique among pending, 16-bit, and wrap at 65536 skipping pending ones", async () => {
    const t = new VerdictTable(LONG, 65536);
    const ids = new Set<number>();
    for (let i = 0; i < 65536; i++) {
      const { id } = open(t, [A]);
      expect(id >= 0 && id <= 0xffff).toBe(true);
      ids.add(id);
    }
    expect(ids.size).toBe(65536);
    expect(t.size).toBe(65536);
    // Full: no id is free.
    expect(t.open([A], true, ignore)).toBeNull();
    // Free two ids; after wrapping, the next ids are exactly those, in order.
    expect(t.answer(40000, A, true)).toBe("accepted");
    expect(t.answer(7, A, true)).toBe("accepted");
    expect(open(t, [A]).id).toBe(7);
    expect(open(t, [A]).id).toBe(40000);
    expect(t.open([A], true, ignore)).toBeNull();
    t.clear();
    expect(t.size).toBe(0);
  });

  test("ids never repeat while pending across many open/settle cycles", () => {
    const t = new VerdictTable(LONG, 300);
    const pending = new Set<number>();
    let seq = 0;
    for (let round = 0; round < 1000; round++) {
      const slot = open(t, [A]);
      expect(pending.has(slot.id)).toBe(false);
      pending.add(slot.id);
      // Settle one entry in a scattered pattern so the free ids are not contiguous.
      if (pending.size >= 250) {
        const victim = [...pending][(seq = (seq * 7 + 3) % pending.size)]!;
        expect(t.answer(victim, A, true)).toBe("accepted");
        pending.delete(victim);
      }
    }
    expect(t.size).toBe(pending.size);
    t.clear();
  });

  test("a full table (maxPending) returns null; settling frees a slot", () => {
    const t = new VerdictTable(LONG, 2);
    const a = open(t, [A]);
    open(t, [A]);
    expect(t.open([A], true, ignore)).toBeNull();
    expect(t.open([A], false, ignore)).toBeNull();
    t.answer(a.id, A, true);
    expect(t.open([A], true, ignore)).not.toBeNull();
    t.clear();
  });
});

describe("VerdictTable gating verdicts", () => {
  test("valid only once every subscriber (3) answered valid", async () => {
    const t = new VerdictTable(LONG, 16);
    const { id, verdict } = open(t, [A, B, C]);
    expect(t.answer(id, A, true)).toBe("accepted");
    expect(t.answer(id, C, true)).toBe("accepted");
    expect(await peek(verdict)).toBe("pending");
    expect(t.answer(id, B, true)).toBe("accepted");
    expect(await verdict).toBe("valid");
    expect(t.size).toBe(0);
  });

  test("one invalid verdict fails the item at once, even after others said valid", async () => {
    const t = new VerdictTable(LONG, 16);
    const { id, verdict } = open(t, [A, B]);
    t.answer(id, A, true);
    expect(t.answer(id, B, false)).toBe("accepted");
    expect(await verdict).toBe("invalid");
    expect(t.size).toBe(0);
  });

  test("no verdict in time: timeout", async () => {
    const t = new VerdictTable(30, 16);
    const { id, verdict } = open(t, [A, B]);
    t.answer(id, A, true);
    expect(await verdict).toBe("timeout");
    expect(t.size).toBe(0);
    expect(t.answer(id, B, true)).toBe("unknown-id");
  });

  test("forget() of the one pending subscriber while the others approved: valid", async () => {
    const t = new VerdictTable(LONG, 16);
    const { id, verdict } = open(t, [A, B, C]);
    t.answer(id, A, true);
    t.answer(id, B, true);
    t.forget(C);
    expect(await verdict).toBe("valid");
  });

  test("forget() of an approved subscriber: it no longer counts", async () => {
    const t = new VerdictTable(LONG, 16);
    const { id, verdict } = open(t, [A, B]);
    t.answer(id, A, true);
    t.forget(A);
    expect(await peek(verdict)).toBe("pending");
    // With A gone, B's approval alone decides.
    t.answer(id, B, true);
    expect(await verdict).toBe("valid");
  });

  test("forget() of every subscriber: abandoned", async () => {
    const t = new VerdictTable(LONG, 16);
    const x = open(t, [A, B]);
    const y = open(t, [A]);
    t.answer(x.id, A, true);
    t.forget(A);
    expect(await peek(x.verdict)).toBe("pending");
    expect(await y.verdict).toBe("abandoned");
    t.forget(B);
    expect(await x.verdict).toBe("abandoned");
    expect(t.size).toBe(0);
  });

  test("forget() of a subscriber not involved changes nothing", async () => {
    const t = new VerdictTable(LONG, 16);
    const { verdict } = open(t, [A]);
    t.forget(B);
    expect(await peek(verdict)).toBe("pending");
    t.clear();
  });
});

describe("VerdictTable answers", () => {
  test("not-asked, unknown-id, already-answered", async () => {
    const t = new VerdictTable(LONG, 16);
    const { id, verdict } = open(t, [A, B]);
    expect(t.answer(id, C, true)).toBe("not-asked");
    expect(t.answer(id, C, false)).toBe("not-asked");
    expect(t.answer((id + 1) & 0xffff, A, true)).toBe("unknown-id");
    expect(t.answer(id, A, true)).toBe("accepted");
    expect(t.answer(id, A, true)).toBe("already-answered");
    expect(t.answer(id, A, false)).toBe("already-answered");
    // The refused answers changed nothing: still pending, then valid on B's answer.
    expect(await peek(verdict)).toBe("pending");
    t.answer(id, B, true);
    expect(await verdict).toBe("valid");
    expect(t.answer(id, B, true)).toBe("unknown-id");
  });
});

describe("VerdictTable non-gating entries (local announce copies)", () => {
  test("invalid answers do not fail the item: valid once all answered", async () => {
    const t = new VerdictTable(LONG, 16);
    const { id, verdict } = open(t, [A, B], false);
    expect(t.answer(id, A, false)).toBe("accepted");
    expect(await peek(verdict)).toBe("pending");
    expect(t.answer(id, B, false)).toBe("accepted");
    expect(await verdict).toBe("valid");
  });

  test("an invalid answer is recorded: a second answer is already-answered", () => {
    const t = new VerdictTable(LONG, 16);
    const { id } = open(t, [A, B], false);
    t.answer(id, A, false);
    expect(t.answer(id, A, true)).toBe("already-answered");
    t.clear();
  });

  test("every subscriber gone: abandoned, never invalid", async () => {
    const t = new VerdictTable(LONG, 16);
    const { id, verdict } = open(t, [A, B], false);
    t.answer(id, A, false);
    t.forget(A);
    t.forget(B);
    expect(await verdict).toBe("abandoned");
  });
});

describe("VerdictTable withdraw and clear", () => {
  test("withdraw: the subscriber no longer counts", async () => {
    const t = new VerdictTable(LONG, 16);
    const x = open(t, [A, B]);
    t.answer(x.id, A, true);
    t.withdraw(x.id, B);
    expect(await x.verdict).toBe("valid");

    const y = open(t, [A]);
    t.withdraw(y.id, A);
    expect(await y.verdict).toBe("abandoned");
    // Withdrawing from a settled or unknown id is harmless.
    t.withdraw(y.id, A);
    t.withdraw(12345, A);
    expect(t.size).toBe(0);
  });

  test("withdrawn subscriber's later answer is not-asked", async () => {
    const t = new VerdictTable(LONG, 16);
    const { id, verdict } = open(t, [A, B]);
    t.withdraw(id, A);
    expect(t.answer(id, A, false)).toBe("not-asked");
    t.answer(id, B, true);
    expect(await verdict).toBe("valid");
  });

  test("clear() settles everything (abandoned by default, or as told) and cancels timers", async () => {
    const t = new VerdictTable(20, 16);
    const x = open(t, [A]);
    const y = open(t, [B], false);
    t.clear();
    expect([await x.verdict, await y.verdict]).toEqual(["abandoned", "abandoned"]);
    expect(t.size).toBe(0);
    const z = open(t, [A]);
    t.clear("overloaded");
    expect(await z.verdict).toBe("overloaded");
    // The timers were cancelled: nothing fires later (a timeout would settle nothing anyway).
    await Bun.sleep(40);
    expect(t.size).toBe(0);
  });

  test("owedBy counts each subscriber's unanswered notifications through every way out", async () => {
    const t = new VerdictTable(30, 64);
    const x = open(t, [A, B]);
    const y = open(t, [A]);
    open(t, [A, C]); // left to time out
    expect([t.owedBy(A), t.owedBy(B), t.owedBy(C)]).toEqual([3, 1, 1]);
    t.answer(x.id, A, true); // answered
    expect(t.owedBy(A)).toBe(2);
    t.withdraw(y.id, A); // could not be sent
    expect(t.owedBy(A)).toBe(1);
    t.forget(B); // disconnected
    expect(t.owedBy(B)).toBe(0);
    expect(await x.verdict).toBe("valid");
    await Bun.sleep(60); // the last one times out
    expect([t.owedBy(A), t.owedBy(C)]).toEqual([0, 0]);
  });
});

describe("VerdictTable timeouts (one timer for the table, on a virtual clock)", () => {
  /** A table on a virtual clock, and each opened item's verdict once settled (null before). */
  function virtual(timeoutMs: number) {
    const clock = new SimClock();
    const t = new VerdictTable(timeoutMs, 64, clock.env(1));
    const got: Array<Verdict | null> = [];
    const openAt = (subs: Subscriber[]) => {
      const i = got.push(null) - 1;
      return t.open(subs, true, (v) => {
        expect(got[i]).toBeNull(); // settled once
        got[i] = v;
      })!;
    };
    return { clock, t, got, openAt };
  }

  test("rule: each item times out timeoutMs after its own open, in order, whatever settled between", () => {
    const { clock, t, got, openAt } = virtual(100);
    openAt([A]); // at 0
    clock.run(30);
    const b = openAt([A]); // at 30
    clock.run(30);
    openAt([A]); // at 60
    t.answer(b, A, true); // the middle one settles early
    clock.run(39); // 99
    expect(got).toEqual([null, "valid", null]);
    clock.run(1); // 100
    expect(got).toEqual(["timeout", "valid", null]);
    clock.run(59); // 159
    expect(got).toEqual(["timeout", "valid", null]);
    clock.run(1); // 160
    expect(got).toEqual(["timeout", "valid", "timeout"]);
    expect(t.size).toBe(0);
    expect(t.owedBy(A)).toBe(0);
  });

  test("rule: one timer serves the table: at most one event waits on the clock, however many items are pending", () => {
    const { clock, got, openAt } = virtual(100);
    for (let i = 0; i < 50; i++) {
      openAt([A, B]);
      clock.run(1);
    }
    expect(clock.pending).toBe(1);
    clock.run(100);
    expect(got.every((v) => v === "timeout")).toBe(true);
  });

  test("an item opened after the table emptied gets its full timeout", () => {
    const { clock, t, got, openAt } = virtual(100);
    const a = openAt([A]);
    t.answer(a, A, true);
    clock.run(70);
    openAt([A]); // at 70: the timer armed at 0 must not time it out at 100
    clock.run(99); // 169
    expect(got).toEqual(["valid", null]);
    clock.run(1); // 170
    expect(got).toEqual(["valid", "timeout"]);
  });

  test("rule: an entry opened by a verdict settled at a timeout leaves one timer, for the oldest deadline", () => {
    const clock = new SimClock();
    const env = clock.env(1);
    let live = 0;
    let most = 0;
    const counted = {
      now: () => env.now(),
      after(ms: number, fn: () => void) {
        live++;
        most = Math.max(most, live);
        let done = false;
        const t = env.after(ms, () => {
          done = true;
          live--;
          fn();
        });
        return {
          cancel() {
            if (done) return;
            done = true;
            live--;
            t.cancel();
          },
        };
      },
    };
    const t = new VerdictTable(100, 64, counted);
    const got: string[] = [];
    t.open([A], true, (v) => {
      got.push(`a ${v} ${clock.now()}`);
      t.open([C], true, (w) => got.push(`c ${w} ${clock.now()}`));
    });
    clock.run(10);
    t.open([B], true, (v) => got.push(`b ${v} ${clock.now()}`));
    clock.run(300);
    expect(got).toEqual(["a timeout 100", "b timeout 110", "c timeout 200"]);
    expect(most).toBe(1);
    expect(live).toBe(0);
  });

  test("clear() cancels the timer", () => {
    const { clock, t, got, openAt } = virtual(100);
    openAt([A]);
    t.clear();
    expect(got).toEqual(["abandoned"]);
    clock.run(200);
    expect(clock.events).toBe(0);
  });
});
