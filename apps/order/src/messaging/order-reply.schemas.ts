import type { MessageSchemas } from '@tcc/kafka';

/** The reply types order accepts from stock and payment; anything else is dead-lettered. Filled in with the saga. */
export const orderReplySchemas: MessageSchemas = {};
