import { randomFillSync } from 'node:crypto';

/**
 * A new order id: a UUID version 7 (RFC 9562), whose first 48 bits are the Unix time in
 * milliseconds and the rest random. Every table keyed by the order (orders, order_lines,
 * order_timeline, stock's reservations, payment's holds) then gets its new keys at the right edge
 * of its index instead of on a random leaf: the pages being written stay few and in memory, and
 * after a checkpoint a page is logged whole once rather than once per insert. With random (v4) ids
 * each insert into a grown index touched a page of its own, and the order database's writes got
 * dearer with every order it held. What the time part tells is no secret: the order shows when it
 * was created.
 */
export function newOrderId(now = Date.now()): string {
  const bytes = randomBytes16();
  // 48-bit big-endian milliseconds
  bytes[0] = Math.floor(now / 2 ** 40) & 0xff;
  bytes[1] = Math.floor(now / 2 ** 32) & 0xff;
  bytes[2] = (now >>> 24) & 0xff;
  bytes[3] = (now >>> 16) & 0xff;
  bytes[4] = (now >>> 8) & 0xff;
  bytes[5] = now & 0xff;
  bytes[6] = 0x70 | ((bytes[6] as number) & 0x0f); // version 7
  bytes[8] = 0x80 | ((bytes[8] as number) & 0x3f); // variant 10
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Random bytes are cut from a pooled buffer: one system call for many ids. */
const POOL_SIZE = 16 * 256;
const pool = Buffer.alloc(POOL_SIZE);
let offset = POOL_SIZE;

function randomBytes16(): Buffer {
  if (offset + 16 > POOL_SIZE) {
    randomFillSync(pool);
    offset = 0;
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + 16));
  offset += 16;
  return bytes;
}
