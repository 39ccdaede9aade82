import type { ZodType } from 'zod';
import { PermanentError } from '../backoff';

/** message type -> schema of the whole envelope with that type */
export type MessageSchemas = Readonly<Record<string, ZodType>>;

/** The bytes can never become a valid message (not JSON, no envelope, failing its schema). */
export class PoisonMessageError extends PermanentError {}

/** No schema or no handler for this type on this consumer. */
export class UnknownMessageTypeError extends PermanentError {
  constructor(readonly messageType: string) {
    super(`unknown message type "${messageType}"`);
  }
}
