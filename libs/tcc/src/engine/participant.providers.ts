import type { BeforeApplicationShutdown, OnApplicationBootstrap, Provider } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SagaMessage } from '@tcc/contracts';
import { DirectPublisher } from '@tcc/outbox';
import { expirySweeper } from '@tcc/service';
import type { PeriodicTask } from '@tcc/service';
import type { Participant } from './participant';
import { ParticipantEngine } from './participant-engine';

/** Releases a participant's branches past their time to live, from the app's start to its shutdown. */
class ParticipantSweeper implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(private readonly task: PeriodicTask) {}

  onApplicationBootstrap(): void {
    this.task.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.task.stop();
  }
}

/**
 * What a participant's app module provides: the engine running its declaration (injected as
 * `@Inject(token)`), and its sweeper, every `sweepIntervalMs`.
 */
export function participantProviders<C extends SagaMessage, R extends SagaMessage>(
  token: symbol,
  participant: Participant<C, R>,
  sweepIntervalMs: number,
): Provider[] {
  return [
    {
      provide: token,
      inject: [DataSource, DirectPublisher],
      useFactory: (db: DataSource, publisher: DirectPublisher) =>
        new ParticipantEngine(db, participant, publisher),
    },
    {
      provide: Symbol(`${participant.name} sweeper`),
      inject: [token],
      useFactory: (engine: ParticipantEngine<C, R>) =>
        new ParticipantSweeper(
          expirySweeper(participant.name, sweepIntervalMs, (limit) => engine.expireOverdue(limit)),
        ),
    },
  ];
}
