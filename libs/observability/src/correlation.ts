/** HTTP header a client may send to tie its request to its own trace; echoed into logs. */
export const CORRELATION_HEADER = 'x-correlation-id';
