// SHA-256 for the core's Env (item ids, src/wire/item-id.ts): Bun's native one-shot hash into
// a fresh 32-byte array, the fastest of Bun's paths for small inputs (see src/node/pow.ts).
// The binary and the simulator both use it, so a simulated network computes the real ids.

export function sha256(input: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  Bun.SHA256.hash(input, out);
  return out;
}
