// Addresses as the VoidPhone spec writes them: `host:port` (IPv4 or hostname) or `[IPv6]:port`.
// Hosts are kept without brackets because that is what Bun.listen / Bun.connect expect.

import { isIPv4, isIPv6 } from "node:net";
import { formatHostPort } from "../util/hostport.ts";
import type { Address } from "./schema.ts";

// RFC 1123 labels; "_" is tolerated because container and service names use it.
const LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** Parses `host:port` or `[IPv6]:port`; throws an Error whose message is the precise reason. */
export function parseAddress(text: string): Address {
  const s = text.trim();
  if (s === "") throw new Error("empty address");
  let host: string;
  let portText: string;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0) throw new Error("missing closing bracket");
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest === "") throw new Error("missing port");
    if (!rest.startsWith(":")) throw new Error("expected ':' after the closing bracket");
    portText = rest.slice(1);
    if (!isIPv6(host)) {
      throw new Error(isIPv4(host) ? "brackets are only for IPv6 addresses" : "invalid IPv6 address");
    }
  } else {
    const colon = s.lastIndexOf(":");
    if (colon < 0) throw new Error("missing port");
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(":")) throw new Error("IPv6 address must be in brackets");
    checkHost(host);
  }
  return { host, port: parsePort(portText) };
}

/** `host:port`, or `[host]:port` for IPv6; the inverse of parseAddress. */
export function formatAddress(a: Address): string {
  return formatHostPort(a.host, a.port);
}

/** Same endpoint: hostnames compare case-insensitively, IPv6 in canonical form. */
export function sameAddress(a: Address, b: Address): boolean {
  return a.port === b.port && canonicalHost(a.host) === canonicalHost(b.host);
}

function canonicalHost(host: string): string {
  if (!isIPv6(host)) return host.toLowerCase();
  try {
    // The WHATWG URL parser compresses IPv6 (0:0:0:0:0:0:0:1 -> ::1); zone ids do not parse.
    return new URL(`http://[${host}]/`).hostname;
  } catch {
    return host.toLowerCase();
  }
}

function parsePort(text: string): number {
  if (text === "") throw new Error("missing port");
  if (!/^[0-9]+$/.test(text)) throw new Error("port must be a decimal number");
  const port = Number(text);
  if (port > 65535) throw new Error("port must be 0-65535");
  return port;
}

function checkHost(host: string): void {
  if (host === "") throw new Error("missing host");
  // A dotted all-numeric host is meant as IPv4, so 256.1.1.1 is an error, not a hostname.
  if (/^[0-9.]+$/.test(host)) {
    if (!isIPv4(host)) throw new Error("invalid IPv4 address");
    return;
  }
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name.length > 253 || !name.split(".").every((l) => LABEL.test(l))) throw new Error("invalid hostname");
}
