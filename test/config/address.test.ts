import { describe, expect, test } from "bun:test";
import { formatAddress, parseAddress, sameAddress } from "../../src/config/address.ts";

describe("parseAddress / formatAddress", () => {
  const valid: [string, string, number][] = [
    ["127.0.0.1:6001", "127.0.0.1", 6001],
    ["0.0.0.0:0", "0.0.0.0", 0],
    ["localhost:65535", "localhost", 65535],
    ["peer-1.example.org:7001", "peer-1.example.org", 7001],
    ["my_host:1", "my_host", 1],
    ["[::1]:7001", "::1", 7001],
    ["[2001:db8::42]:6001", "2001:db8::42", 6001],
    ["[::ffff:127.0.0.1]:80", "::ffff:127.0.0.1", 80],
  ];
  for (const [text, host, port] of valid) {
    test(`accepts ${text}`, () => {
      expect(parseAddress(text)).toEqual({ host, port });
      expect(formatAddress({ host, port })).toBe(text);
    });
  }

  test("trims surrounding whitespace", () => {
    expect(parseAddress("  10.0.0.1:5 ")).toEqual({ host: "10.0.0.1", port: 5 });
  });

  const invalid: [string, string][] = [
    ["", "empty address"],
    ["127.0.0.1", "missing port"],
    ["127.0.0.1:", "missing port"],
    ["[::1]", "missing port"],
    ["[::1]:", "missing port"],
    ["127.0.0.1:65536", "port must be 0-65535"],
    ["127.0.0.1:99999999999999999999", "port must be 0-65535"],
    ["127.0.0.1:-1", "port must be a decimal number"],
    ["127.0.0.1:0x10", "port must be a decimal number"],
    ["127.0.0.1: 80", "port must be a decimal number"],
    ["::1:7001", "IPv6 address must be in brackets"],
    ["2001:db8::1:80", "IPv6 address must be in brackets"],
    ["[::1:7001", "missing closing bracket"],
    ["[::1]7001", "expected ':' after the closing bracket"],
    ["[127.0.0.1]:80", "brackets are only for IPv6 addresses"],
    ["[nonsense]:80", "invalid IPv6 address"],
    [":80", "missing host"],
    ["256.1.1.1:80", "invalid IPv4 address"],
    ["1.2.3:80", "invalid IPv4 address"],
    ["bad host:80", "invalid hostname"],
    ["-lead.example:80", "invalid hostname"],
    ["a..b:80", "invalid hostname"],
  ];
  for (const [text, reason] of invalid) {
    test(`rejects ${JSON.stringify(text)}: ${reason}`, () => {
      expect(() => parseAddress(text)).toThrow(reason);
    });
  }
});

describe("sameAddress", () => {
  test("compares port and canonical host", () => {
    expect(sameAddress(parseAddress("127.0.0.1:6001"), parseAddress("127.0.0.1:6001"))).toBe(true);
    expect(sameAddress(parseAddress("127.0.0.1:6001"), parseAddress("127.0.0.1:6002"))).toBe(false);
    expect(sameAddress(parseAddress("LocalHost:1"), parseAddress("localhost:1"))).toBe(true);
    expect(sameAddress(parseAddress("[0:0:0:0:0:0:0:1]:1"), parseAddress("[::1]:1"))).toBe(true);
    expect(sameAddress(parseAddress("localhost:1"), parseAddress("127.0.0.1:1"))).toBe(false);
  });
});
