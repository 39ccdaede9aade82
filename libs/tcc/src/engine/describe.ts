import type { BranchCommand, Outcome, Resource } from '../domain/branch';
import { rejectionWord } from '../domain/branch';
import type { ParticipantLines, ParticipantTables } from './participant';
import type { ReasonWords } from '../domain/branch';

/** The line logged for an outcome: the participant's words for its moves, the rest the same for all. */
export function describer<R extends { type: string }>(
  lines: ParticipantLines,
  words: ReasonWords,
  tables: ParticipantTables,
): (branch: BranchCommand, outcome: Outcome<R>, resource: Resource | undefined) => string {
  return (branch, outcome, resource) => {
    const id = branch.resourceId;
    switch (outcome.kind) {
      case 'replay':
        return `duplicate ${tables.fences.phases[branch.phase]}: replayed ${outcome.reply.type}`;
      case 'tried':
        return lines.tried(outcome.amount, id, resource);
      case 'rejected':
        return `try for ${id} rejected: ${rejectionWord(outcome.reason, words)}`;
      case 'confirmed':
        return lines.confirmed(outcome.amount, id);
      case 'cancelled':
        if (outcome.effect === 'empty-rollback') return `cancel before any try for ${id}: remembered`;
        return outcome.effect === 'released'
          ? lines.released(outcome.released, id)
          : `nothing held for ${id}`;
      case 'compensated':
        return lines.compensated(outcome.amount, id);
      case 'refused':
        return `${tables.fences.phases[branch.phase]} for ${id} refused: ${outcome.reason}`;
      case 'expired':
        return lines.released(outcome.amount, id);
      case 'foreign':
        return `${branch.phase} for ${id} names another owner's branch (${outcome.owner})`;
    }
  };
}
