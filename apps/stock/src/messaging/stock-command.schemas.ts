import { stockCommands } from '@tcc/contracts';
import type { MessageSchemas } from '@tcc/kafka';

/** The command types stock accepts on its topic; anything else is dead-lettered. */
export const stockCommandSchemas: MessageSchemas = stockCommands;
