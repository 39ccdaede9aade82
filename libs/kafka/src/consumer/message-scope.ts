import type { IHeaders, KafkaMessage } from 'kafkajs';
import { childSpan, parseTraceparent, TRACEPARENT_HEADER } from '@tcc/observability';

/** This message's span, in the sender's trace (or a new one for a message that came without). */
export function spanOf(message: KafkaMessage) {
  return childSpan(parseTraceparent(headerText(message.headers, TRACEPARENT_HEADER)));
}

/** The log context of a message's handling: its correlation id, trace, and place in the topic. */
export function bindingsOf(
  topic: string,
  partition: number,
  message: KafkaMessage,
  correlationId: string | undefined,
  span: { traceId: string; spanId: string },
) {
  return {
    correlationId,
    traceId: span.traceId,
    spanId: span.spanId,
    topic,
    partition,
    offset: message.offset,
  };
}

export function headerText(headers: IHeaders | undefined, name: string): string | undefined {
  const value = headers?.[name];
  if (value === undefined) return undefined;
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined ? undefined : first.toString();
}
