// Peer scores (src/core/scores.ts) with an injected clock: bans at -banScore, by identity and
// by source IP, expiring after banMs; good behaviour banks at most +50; the table is bounded
// and keeps serving bans when it forgets. Plus the address helpers the per-prefix and per-IP
// limits rely on.

import { describe, expect, test } from "bun:test";
import { PeerScores, Points, addressPrefix, remoteHost } from "../../src/core/scores.ts";

const BAN_MS = 60_000;

function scores(maxEntries?: number) {
  let t = 1000;
  const s = new PeerScores({ banScore: 100, banMs: BAN_MS, now: () => t, ...(maxEntries === undefined ? {} : { maxEntries }) });
  return { s, advance: (ms: number) => void (t += ms) };
}

const entries = (s: PeerScores) => (s as unknown as { entries: Map<string, unknown> }).entries.size;

describe("PeerScores: bans", () => {
  test("a score reaching -banScore bans; one point short does not", () => {
    const { s } = scores();
    expect(s.adjust("id", "1.2.3.4:5", -99)).toBe(false);
    expect(s.isBanned("id", "1.2.3.4:5")).toBe(false);
    expect(s.score("id")).toBe(-99);
    expect(s.bans).toBe(0);
    expect(s.adjust("id", "1.2.3.4:5", -1)).toBe(true);
    expect(s.bannedFor("id")).toBe(BAN_MS);
    expect(s.bannedFor("1.2.3.4:5")).toBe(BAN_MS);
    // One ban (of the identity and its address together), counted once for metrics.
    expect(s.bans).toBe(1);
  });

  test("the points add up as the README says: 5 invalid items, or 2 protocol violations, or 50 rate-limited messages", () => {
    for (const [pts, n] of [[Points.invalidItem, 5], [Points.protocolViolation, 2], [Points.rateLimited, 50]] as const) {
      const { s } = scores();
      for (let i = 1; i < n; i++) expect(s.adjust("id", "", pts)).toBe(false);
      expect(s.adjust("id", "", pts)).toBe(true);
    }
  });

  test("identity and source IP are banned together: a new key from the IP, or the key from a new IP, is still banned", () => {
    const { s } = scores();
    s.adjust("bad-id", "6.6.6.6", -100);
    expect(s.isBanned("fresh-id", "6.6.6.6")).toBe(true);
    expect(s.isBanned("bad-id", "7.7.7.7")).toBe(true);
    expect(s.isBanned("fresh-id", "7.7.7.7")).toBe(false);
    expect(s.isBanned("", "")).toBe(false);
  });

  test("an empty id or address is not scored (a peer known only by one of them)", () => {
    const { s } = scores();
    expect(s.adjust("", "1.1.1.1:1", -100)).toBe(true);
    expect(s.bannedFor("")).toBe(0);
    expect(s.adjust("id", "", -100)).toBe(true);
    expect(s.isBanned("")).toBe(false);
  });

  test("a ban expires after banMs; the score starts fresh; misbehaving again bans again", () => {
    const { s, advance } = scores();
    s.adjust("id", "a:1", -100);
    advance(BAN_MS - 1);
    expect(s.bannedFor("id")).toBe(1);
    // More misbehaviour while banned neither re-bans nor extends the ban.
    expect(s.adjust("id", "a:1", -100)).toBe(false);
    expect(s.bannedFor("id")).toBe(1);
    advance(1);
    expect(s.isBanned("id", "a:1")).toBe(false);
    expect(s.adjust("id", "a:1", -100)).toBe(true);
    expect(s.bannedFor("a:1")).toBe(BAN_MS);
  });
});

describe("PeerScores: good behaviour", () => {
  test("valid items bank at most +50: a long-behaved peer is banned after 150 points of misbehaviour, not more", () => {
    const { s } = scores();
    for (let i = 0; i < 1000; i++) s.adjust("id", "", Points.validItem);
    expect(s.score("id")).toBe(Points.maxScore);
    expect(s.adjust("id", "", -149)).toBe(false);
    expect(s.adjust("id", "", -1)).toBe(true);
  });
});

describe("PeerScores: bounded table", () => {
  test("never more than maxEntries entries, whatever the number of peers", () => {
    const { s } = scores(10);
    for (let i = 0; i < 1000; i++) s.adjust(`id${i}`, `10.0.${i >> 8}.${i & 255}:1`, -1);
    expect(entries(s)).toBeLessThanOrEqual(10);
  });

  test("the least recently touched entry not serving a ban is forgotten first", () => {
    const { s } = scores(4);
    s.adjust("banned", "", -100);
    s.adjust("old", "", -10);
    s.adjust("recent", "", -10);
    s.adjust("old", "", -10); // touched again: now more recent than "recent"
    s.adjust("new1", "", -1); // four entries: the table is full
    s.adjust("new2", "", -1); // one too many: "recent" goes, not the ban
    expect(s.score("recent")).toBe(0);
    expect(s.score("old")).toBe(-20);
    s.adjust("new3", "", -1);
    expect(s.score("old")).toBe(0);
    expect(s.isBanned("banned")).toBe(true);
    expect(s.score("new3")).toBe(-1);
    expect(entries(s)).toBe(4);
  });

  test("a table holding only bans forgets its oldest ban: a newly banned peer is banned, not forgotten at once", () => {
    const { s } = scores(3);
    for (const id of ["b1", "b2", "b3"]) s.adjust(id, "", -100);
    // The fourth ban is reported (the caller disconnects the peer) ...
    expect(s.adjust("b4", "", -100)).toBe(true);
    // ... and must hold, or the peer is back at once.
    expect(s.isBanned("b4")).toBe(true);
    expect(s.isBanned("b1")).toBe(false);
    expect(s.isBanned("b2", "b3")).toBe(true);
    expect(entries(s)).toBe(3);
  });

  test("a table full of bans still records a newcomer's score", () => {
    const { s } = scores(2);
    s.adjust("b1", "", -100);
    s.adjust("b2", "", -100);
    s.adjust("newcomer", "", -60);
    expect(s.score("newcomer")).toBe(-60);
  });
});

describe("addressPrefix and remoteHost", () => {
  test.each([
    ["192.168.1.77:6001", "192.168.1.0/24"],
    ["192.168.1.1:1", "192.168.1.0/24"],
    ["192.168.2.1:1", "192.168.2.0/24"],
    ["[2001:db8:1:2::5]:6001", "2001:db8:1::/48"],
    ["[2001:DB8:0001:ffff:1:2:3:4]:1", "2001:db8:1::/48"],
    ["[2001:db8::1]:1", "2001:db8:0::/48"],
    ["[::1]:6001", "0:0:0::/48"],
    ["Example.COM:80", "example.com"],
    ["localhost:6001", "localhost"],
    // IPv4 peers on a dual-stack ([::]) listener: their own /24, not one /48 for them all.
    ["[::ffff:10.1.2.3]:40000", "10.1.2.0/24"],
    ["[::FFFF:192.168.7.9]:1", "192.168.7.0/24"],
    ["[::ffff:c0a8:709]:1", "192.168.7.0/24"],
    ["[::ffff:1:2]:1", "0.1.0.0/24"],
  ])("addressPrefix(%p) = %p", (addr, prefix) => {
    expect(addressPrefix(addr)).toBe(prefix);
  });

  test("one /24 or /48 shares a prefix; neighbours across the boundary do not", () => {
    expect(addressPrefix("10.1.2.3:1")).toBe(addressPrefix("10.1.2.254:9"));
    expect(addressPrefix("10.1.2.3:1")).not.toBe(addressPrefix("10.1.3.3:1"));
    expect(addressPrefix("[2001:db8:1::1]:1")).toBe(addressPrefix("[2001:db8:1:ffff::1]:1"));
    expect(addressPrefix("[2001:db8:1::1]:1")).not.toBe(addressPrefix("[2001:db8:2::1]:1"));
  });

  test.each([
    ["127.0.0.1:5000", "127.0.0.1"],
    ["[::1]:5000", "::1"],
    ["[2001:db8::7]:1", "2001:db8::7"],
    ["host.example:22", "host.example"],
  ])("remoteHost(%p) = %p", (remote, host) => {
    expect(remoteHost(remote)).toBe(host);
  });
});
