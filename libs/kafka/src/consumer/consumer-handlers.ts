import type { Server } from '@nestjs/microservices';

/** A Nest message handler, as the server found it for a pattern. */
export type Handler = NonNullable<ReturnType<Server['getHandlerByPattern']>>;

/** What the message paths need of the Nest server: the handler of a pattern, and what it answered. */
export interface ConsumerHandlers {
  handlerFor(pattern: string): Handler | null;
  /** The last value a handler's answer (a value, a promise or an observable) gives; undefined if none. */
  resultOf(answer: unknown): Promise<unknown>;
}
