// The few libc calls the test bed's router needs (bun:ffi): TUN devices are opened and set up
// with open + ioctl(TUNSETIFF), which neither Bun nor node:fs offers, and packets move with
// read/write/poll in one synchronous loop. Linux, x86-64 and arm64 glibc.

import { dlopen, FFIType, read } from "bun:ffi";

const lib = dlopen("libc.so.6", {
  open: { args: [FFIType.ptr, FFIType.i32], returns: FFIType.i32 },
  close: { args: [FFIType.i32], returns: FFIType.i32 },
  ioctl: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 },
  read: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  write: { args: [FFIType.i32, FFIType.ptr, FFIType.u64], returns: FFIType.i64 },
  poll: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 },
  strerror: { args: [FFIType.i32], returns: FFIType.cstring },
  __errno_location: { args: [], returns: FFIType.ptr },
});
const c = lib.symbols;

const O_RDWR = 0o2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const TUNSETIFF = 0x400454ca;
const IFF_TUN = 0x0001;
const IFF_NO_PI = 0x1000;
export const POLLIN = 0x001;
export const EAGAIN = 11;
export const EINTR = 4;

export function errno(): number {
  return read.i32(c.__errno_location()!, 0);
}

export class SysError extends Error {
  constructor(
    readonly call: string,
    readonly code: number,
  ) {
    super(`${call}: ${String(c.strerror(code))} (errno ${code})`);
  }
}

/** Opens /dev/net/tun as a layer-3 device named `name` (no packet info header), non-blocking. */
export function openTun(name: string): number {
  if (Buffer.byteLength(name) > 15) throw new Error(`tun name ${JSON.stringify(name)}: at most 15 bytes`);
  const fd = c.open(Buffer.from("/dev/net/tun\0"), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw new SysError("open /dev/net/tun", errno());
  // struct ifreq: char ifr_name[16]; short ifr_flags; (padded to 40 bytes)
  const ifr = new Uint8Array(40);
  ifr.set(Buffer.from(name));
  new DataView(ifr.buffer).setUint16(16, IFF_TUN | IFF_NO_PI, true);
  if (c.ioctl(fd, TUNSETIFF, ifr) < 0) {
    const e = errno();
    c.close(fd);
    throw new SysError(`ioctl TUNSETIFF ${name}`, e);
  }
  return fd;
}

/** read(2): bytes read, 0 at end of file, -errno on failure. */
export function readFd(fd: number, buf: Uint8Array): number {
  const n = Number(c.read(fd, buf, buf.byteLength));
  return n < 0 ? -errno() : n;
}

/** write(2): bytes written, -errno on failure. */
export function writeFd(fd: number, buf: Uint8Array): number {
  const n = Number(c.write(fd, buf, buf.byteLength));
  return n < 0 ? -errno() : n;
}

/** A struct pollfd array over `fds`, polled for input. */
export class PollSet {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  constructor(readonly fds: readonly number[]) {
    this.buf = new Uint8Array(8 * fds.length);
    this.view = new DataView(this.buf.buffer);
    fds.forEach((fd, i) => {
      this.view.setInt32(8 * i, fd, true);
      this.view.setInt16(8 * i + 4, POLLIN, true);
    });
  }

  /** Waits up to `timeoutMs` (-1: forever); returns the indices of readable (or hung up) fds. */
  wait(timeoutMs: number): number[] {
    for (let i = 0; i < this.fds.length; i++) this.view.setInt16(8 * i + 6, 0, true);
    const n = c.poll(this.buf, this.fds.length, timeoutMs);
    if (n < 0) {
      const e = errno();
      if (e === EINTR) return [];
      throw new SysError("poll", e);
    }
    const ready: number[] = [];
    for (let i = 0; i < this.fds.length && ready.length < n; i++) if (this.view.getInt16(8 * i + 6, true) !== 0) ready.push(i);
    return ready;
  }
}
