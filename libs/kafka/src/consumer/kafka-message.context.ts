import { BaseRpcContext } from '@nestjs/microservices';
import type { EachMessagePayload, KafkaMessage } from 'kafkajs';
import type { AnyEnvelope } from '@tcc/contracts';

type Args = [EachMessagePayload, AnyEnvelope];

/** What a handler may know about the message in hand, beside its payload (`@Ctx()`). */
export class KafkaMessageContext extends BaseRpcContext<Args> {
  constructor(payload: EachMessagePayload, envelope: AnyEnvelope) {
    super([payload, envelope]);
  }
  get topic(): string {
    return this.args[0].topic;
  }
  get partition(): number {
    return this.args[0].partition;
  }
  get message(): KafkaMessage {
    return this.args[0].message;
  }
  get envelope(): AnyEnvelope {
    return this.args[1];
  }
  /** keeps the group membership during long work */
  heartbeat(): Promise<void> {
    return this.args[0].heartbeat();
  }
}
