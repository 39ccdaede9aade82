import type { MessageSchemas } from '@tcc/kafka';

/** The command types stock accepts on its topic; anything else is dead-lettered. Filled in with the saga. */
export const stockCommandSchemas: MessageSchemas = {};
