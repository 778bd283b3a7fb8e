// Item ids bound to content (docs/PROTOCOL.md section 6.1):
//
//   id = first 16 bytes of SHA-256( "voidphone-gossip-item-v1" | salt 16 | dataType u16 BE | data )
//
// The origin draws the salt at random for every ANNOUNCE, so the same data announced twice
// makes two items; a receiver recomputes the id before the item may enter its seen cache, so
// a neighbour cannot claim an id it saw (in an IHAVE) for other data. The fixed-size fields
// come before the data, so the input is unambiguous without a length. The hash itself is a
// seam (the core's Env): this file stays free of any platform API.

import { type Gossip, ITEM_ID_BYTES, ITEM_SALT_BYTES } from "./p2p.ts";

export const ITEM_ID_LABEL = new TextEncoder().encode("voidphone-gossip-item-v1");

/** SHA-256 of one input (32 bytes out). */
export type Sha256 = (input: Uint8Array) => Uint8Array;

/** The bytes an item id hashes: label | salt | dataType u16 BE | data. */
export function itemIdInput(salt: Uint8Array, dataType: number, data: Uint8Array): Uint8Array {
  if (salt.byteLength !== ITEM_SALT_BYTES) throw new RangeError(`item salt: expected ${ITEM_SALT_BYTES} bytes, got ${salt.byteLength}`);
  const l = ITEM_ID_LABEL.byteLength;
  const input = new Uint8Array(l + ITEM_SALT_BYTES + 2 + data.byteLength);
  input.set(ITEM_ID_LABEL, 0);
  input.set(salt, l);
  input[l + ITEM_SALT_BYTES] = (dataType >> 8) & 0xff;
  input[l + ITEM_SALT_BYTES + 1] = dataType & 0xff;
  input.set(data, l + ITEM_SALT_BYTES + 2);
  return input;
}

/** The id of an item: the first 16 bytes of SHA-256 over itemIdInput. */
export function itemId(sha256: Sha256, salt: Uint8Array, dataType: number, data: Uint8Array): Uint8Array {
  return sha256(itemIdInput(salt, dataType, data)).slice(0, ITEM_ID_BYTES);
}

/** Whether `id` is the id of (salt, dataType, data). */
export function idMatches(sha256: Sha256, id: Uint8Array, salt: Uint8Array, dataType: number, data: Uint8Array): boolean {
  if (id.byteLength !== ITEM_ID_BYTES) return false;
  const digest = sha256(itemIdInput(salt, dataType, data));
  let diff = 0;
  for (let i = 0; i < ITEM_ID_BYTES; i++) diff |= id[i]! ^ digest[i]!;
  return diff === 0;
}

/** A GOSSIP with its id computed from its content (origins, the simulator's hostile nodes, tests). */
export function gossipItem(sha256: Sha256, m: Omit<Gossip, "kind" | "id">): Gossip {
  return { kind: "gossip", id: itemId(sha256, m.salt, m.dataType, m.data), ttl: m.ttl, hops: m.hops, salt: m.salt, dataType: m.dataType, data: m.data };
}
