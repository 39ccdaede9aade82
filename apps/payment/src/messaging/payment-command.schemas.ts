import { paymentCommands } from '@tcc/contracts';
import type { MessageSchemas } from '@tcc/kafka';

/** The command types payment accepts on its topic; anything else is dead-lettered. */
export const paymentCommandSchemas: MessageSchemas = paymentCommands;
