/** A thrown value as an Error, for logs and dead-letter headers. */
export function asError(error: unknown): Error {
  if (error instanceof Error) return error;
  return new Error(typeof error === 'string' ? error : JSON.stringify(error));
}
