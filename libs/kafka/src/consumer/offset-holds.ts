import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Holds on the offset commit of the message being handled. A handler whose work is durable but not
 * yet complete (its transaction committed, its replies not yet acknowledged by Kafka) places a
 * hold: the transport then goes on to the next message at once, and commits this message's offset
 * (and so every later one of its partition) only once the hold resolves. A hold that never
 * resolves (the process stops first) leaves the offset where it was: the message comes again.
 */
const holdsOfMessage = new AsyncLocalStorage<Promise<unknown>[]>();

/**
 * Inside a message's handler: its offset is committed only once `until` resolves. Answers false
 * outside a handler of the transport (a test, an HTTP request): there the caller must wait for
 * `until` itself.
 */
export function holdOffsetUntil(until: Promise<unknown>): boolean {
  const holds = holdsOfMessage.getStore();
  if (!holds) return false;
  // the transport chains on it later; a rejection meanwhile must not count as unhandled
  until.catch(() => undefined);
  holds.push(until);
  return true;
}

/** Runs `fn` as the handling of one message, collecting the holds it places in `holds`. */
export function withOffsetHolds<T>(holds: Promise<unknown>[], fn: () => T): T {
  return holdsOfMessage.run(holds, fn);
}

/** Runs `fn` as the handling of one message: what it answered, and the holds it placed. */
export async function collectOffsetHolds<T>(
  fn: () => Promise<T>,
): Promise<{ result: T; holds: Promise<unknown>[] }> {
  const holds: Promise<unknown>[] = [];
  const result = await withOffsetHolds(holds, fn);
  return { result, holds };
}
