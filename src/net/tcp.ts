// Bun TCP glue: listeners and outgoing connections that hand out Conn objects.

import type { SocketHandler } from "bun";
import { Conn, formatHostPort, type ConnHandler, type Sock, type SocketSlot } from "./conn.ts";

export interface NetOptions {
  /** Outgoing bytes a connection may queue before it is closed as not reading. */
  readonly highWater: number;
}

export interface Listener {
  readonly host: string;
  readonly port: number;
  readonly address: string;
  /** Stops accepting; open connections are left to their owners. */
  stop(): void;
}

export class NetError extends Error {
  constructor(
    readonly code: "ERR_LISTEN" | "ERR_CONNECT",
    message: string,
  ) {
    super(message);
    this.name = "NetError";
  }
}

function handlers(
  opts: NetOptions,
  onOpen: (conn: Conn) => ConnHandler | null,
): SocketHandler<SocketSlot> {
  return {
    open(sock: Sock) {
      sock.setNoDelay(true);
      const conn = new Conn(sock, opts.highWater);
      sock.data = { conn };
      const h = onOpen(conn);
      if (h) conn.attach(h);
      else conn.close("refused");
    },
    data(sock: Sock, chunk: Uint8Array) {
      sock.data?.conn?.onData(chunk);
    },
    drain(sock: Sock) {
      sock.data?.conn?.onDrain();
    },
    close(sock: Sock, error?: Error) {
      sock.data?.conn?.onClose(error);
    },
    error(sock: Sock, error: Error) {
      sock.data?.conn?.onClose(error);
    },
  };
}

/** Listens on host:port (port 0 picks a free port). `onConn` returns null to refuse. */
export function listen(
  host: string,
  port: number,
  opts: NetOptions,
  onConn: (conn: Conn) => ConnHandler | null,
): Listener {
  let server;
  try {
    server = Bun.listen<SocketSlot>({
      hostname: host,
      port,
      exclusive: true,
      data: { conn: null },
      socket: handlers(opts, onConn),
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "EADDRINUSE" ? "address already in use" : code === "EADDRNOTAVAIL" ? "address not available on this host" : (e as Error).message;
    throw new NetError("ERR_LISTEN", `cannot listen on ${formatHostPort(host, port)}: ${why}${code ? ` (${code})` : ""}`);
  }
  const realPort = server.port;
  return {
    host,
    port: realPort,
    address: formatHostPort(host, realPort),
    stop: () => server.stop(true),
  };
}

/** Connects to host:port; resolves with the connection once open, its handler attached. */
export async function connect(
  host: string,
  port: number,
  opts: NetOptions & { readonly timeoutMs?: number },
  onConn: (conn: Conn) => ConnHandler,
): Promise<Conn> {
  let conn: Conn | null = null;
  const connecting = Bun.connect<SocketSlot>({
    hostname: host,
    port,
    data: { conn: null },
    socket: {
      ...handlers(opts, (c) => {
        conn = c;
        return onConn(c);
      }),
      connectError() {},
    },
  });
  const timeoutMs = opts.timeoutMs ?? 5000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([connecting, timeout]);
  } catch (e) {
    connecting.then((s) => s.terminate()).catch(() => {});
    throw new NetError("ERR_CONNECT", `cannot connect to ${formatHostPort(host, port)}: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  // Bun may resolve the connect for a socket the remote closed before `open` ran (e.g. a
  // server at its connection limit): there is no connection to hand out.
  if (conn === null) {
    throw new NetError("ERR_CONNECT", `cannot connect to ${formatHostPort(host, port)}: closed by the remote at once`);
  }
  return conn;
}
