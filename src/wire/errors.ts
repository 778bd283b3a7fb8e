// Typed decode errors. Each failure has a stable code; the message adds the values seen.

export const WireCode = {
  FrameTooSmall: "ERR_FRAME_TOO_SMALL",
  FrameTooLarge: "ERR_FRAME_TOO_LARGE",
  Truncated: "ERR_TRUNCATED",
  WrongSize: "ERR_WRONG_SIZE",
  TrailingBytes: "ERR_TRAILING_BYTES",
  UnknownType: "ERR_UNKNOWN_TYPE",
  UnexpectedType: "ERR_UNEXPECTED_TYPE",
  BadValue: "ERR_BAD_VALUE",
} as const;
export type WireCode = (typeof WireCode)[keyof typeof WireCode];

export class WireError extends Error {
  constructor(
    readonly code: WireCode,
    message: string,
  ) {
    super(message);
    this.name = "WireError";
  }
}

export function isWireError(e: unknown): e is WireError {
  return e instanceof WireError;
}
