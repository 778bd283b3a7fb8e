// host:port as addresses are written in configs, logs and on the wire: IPv6 hosts in brackets.

export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
