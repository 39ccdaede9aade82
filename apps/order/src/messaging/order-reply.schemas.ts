import { orderReplies } from '@tcc/contracts';
import type { MessageSchemas } from '@tcc/kafka';

/** The reply types order accepts from stock and payment; anything else is dead-lettered. */
export const orderReplySchemas: MessageSchemas = orderReplies;
