import { branchRules, statesOf } from './fence-rules';
import type {
  BranchState,
  BranchStatusNames,
  CancelDecision,
  CompensateDecision,
  ConfirmDecision,
} from './fence-rules';

type Phase = 'try' | 'confirm' | 'cancel' | 'compensate';

/** A fence in neutral terms: its state and the phases whose reply it stores. */
interface Given {
  state: BranchState;
  replied: Phase[];
}

const at = (state: BranchState, replied: Phase[] = ['try']): Given => ({ state, replied });

/** The rules over a participant's own status names, as the engine applies them. */
function fenceRules(names: BranchStatusNames<string>) {
  const stateOf = statesOf(names);
  const state = (fence: { status: string } | undefined) => (fence ? stateOf(fence.status) : undefined);
  return {
    decideTry: (fence: { status: string } | undefined, replied: boolean, deadline: Date, now: Date) =>
      branchRules.decideTry(state(fence), replied, deadline, now),
    decideConfirm: (fence: { status: string } | undefined, replied: boolean) =>
      branchRules.decideConfirm(state(fence), replied),
    decideCancel: (fence: { status: string } | undefined, replied: boolean) =>
      branchRules.decideCancel(state(fence), replied),
    decideCompensate: (fence: { status: string } | undefined, replied: boolean) =>
      branchRules.decideCompensate(state(fence), replied),
  };
}

const states: BranchState[] = ['tried', 'confirmed', 'cancelled', 'expired', 'rejected', 'compensated'];

// Each participant's words for the same six states: the table must come out the same for both.
const words = (
  tried: string,
  confirmed: string,
  cancelled: string,
  expired: string,
  rejected: string,
  compensated: string,
): BranchStatusNames<string> => ({ tried, confirmed, cancelled, expired, rejected, compensated });

const participants: [participant: string, names: BranchStatusNames<string>][] = [
  ['stock', words('RESERVED', 'CONFIRMED', 'CANCELLED', 'EXPIRED', 'REJECTED', 'RETURNED')],
  ['payment', words('HELD', 'CAPTURED', 'RELEASED', 'EXPIRED', 'REJECTED', 'REFUNDED')],
];

describe.each(participants)('fence rules in %s words', (_participant, names) => {
  const rules = fenceRules(names);
  const now = new Date('2026-01-01T12:00:00Z');
  const later = new Date('2026-01-01T12:00:10Z');
  const earlier = new Date('2026-01-01T11:59:50Z');

  /** The fence as the participant stores it, and whether it holds a reply to `phase` already. */
  const args = (given: Given | undefined, phase: Phase): [{ status: string } | undefined, boolean] => [
    given && { status: names[given.state] },
    given?.replied.includes(phase) ?? false,
  ];
  /** Rows titled in the participant's words, e.g. `HELD after try, cancel`. */
  const rows = <D>(cases: [D, Given | undefined][]): [string, D, Given | undefined][] =>
    cases.map(([expected, given]) => [
      given ? `${names[given.state]} after ${given.replied.join(', ') || 'nothing'}` : 'no fence',
      expected,
      given,
    ]);

  describe('try', () => {
    it('takes the resource when there is no fence and the deadline is ahead', () => {
      expect(rules.decideTry(undefined, false, later, now)).toEqual({ kind: 'apply' });
    });

    it('rejects a try after its deadline', () => {
      expect(rules.decideTry(undefined, false, earlier, now)).toEqual({
        kind: 'reject',
        reason: 'DEADLINE_PASSED',
      });
    });

    it.each(states)('replays a duplicate try, even past the deadline, once %s', (state) => {
      expect(rules.decideTry(...args(at(state), 'try'), earlier, now)).toEqual({ kind: 'replay' });
    });

    it('rejects a hanging try: the cancel came first (empty rollback)', () => {
      expect(rules.decideTry(...args(at('cancelled', ['cancel']), 'try'), later, now)).toEqual({
        kind: 'reject',
        reason: 'ALREADY_CANCELLED',
      });
    });

    it.each(states)(
      'rejects any try that finds a fence without a try reply (%s), before the deadline',
      (state) => {
        expect(rules.decideTry(...args(at(state, []), 'try'), earlier, now)).toEqual({
          kind: 'reject',
          reason: 'ALREADY_CANCELLED',
        });
      },
    );
  });

  describe('confirm', () => {
    it.each(
      rows<ConfirmDecision>([
        [{ kind: 'refuse', reason: 'NOT_RESERVED' }, undefined],
        [{ kind: 'apply' }, at('tried')],
        [{ kind: 'reacquire' }, at('expired')],
        [{ kind: 'refuse', reason: 'CANCELLED' }, at('cancelled', ['try', 'cancel'])],
        [{ kind: 'refuse', reason: 'CANCELLED' }, at('cancelled', ['cancel'])],
        [{ kind: 'refuse', reason: 'REJECTED' }, at('rejected')],
        [{ kind: 'replay' }, at('confirmed', ['try', 'confirm'])],
        // confirmed without a stored confirm reply: still a replay, never a second effect
        [{ kind: 'replay' }, at('confirmed')],
        [{ kind: 'replay' }, at('compensated', ['try', 'confirm', 'compensate'])],
        [{ kind: 'refuse', reason: 'CANCELLED' }, at('compensated', ['try', 'compensate'])],
        // an earlier refusal is replayed rather than decided again
        [{ kind: 'replay' }, at('expired', ['try', 'confirm'])],
      ]),
    )('%s → %j', (_label, expected, given) => {
      expect(rules.decideConfirm(...args(given, 'confirm'))).toEqual(expected);
    });
  });

  describe('cancel', () => {
    it.each(
      rows<CancelDecision>([
        [{ kind: 'empty-rollback' }, undefined],
        [{ kind: 'apply' }, at('tried')],
        [{ kind: 'refuse', reason: 'CONFIRMED' }, at('confirmed', ['try', 'confirm'])],
        [{ kind: 'nothing-to-release' }, at('expired')],
        [{ kind: 'nothing-to-release' }, at('rejected')],
        [{ kind: 'nothing-to-release' }, at('compensated', ['try', 'confirm', 'compensate'])],
        [{ kind: 'nothing-to-release' }, at('cancelled', ['try'])],
        [{ kind: 'replay' }, at('cancelled', ['cancel'])],
        [{ kind: 'replay' }, at('cancelled', ['try', 'cancel'])],
        // an earlier refusal is replayed rather than decided again
        [{ kind: 'replay' }, at('confirmed', ['try', 'confirm', 'cancel'])],
      ]),
    )('%s → %j', (_label, expected, given) => {
      expect(rules.decideCancel(...args(given, 'cancel'))).toEqual(expected);
    });
  });

  describe('compensate', () => {
    it.each(
      rows<CompensateDecision>([
        [{ kind: 'apply' }, at('confirmed', ['try', 'confirm'])],
        [{ kind: 'refuse', reason: 'NOT_RESERVED' }, undefined],
        [{ kind: 'refuse', reason: 'NOT_CONFIRMED' }, at('tried')],
        [{ kind: 'refuse', reason: 'CANCELLED' }, at('cancelled', ['try', 'cancel'])],
        [{ kind: 'refuse', reason: 'EXPIRED' }, at('expired')],
        [{ kind: 'refuse', reason: 'REJECTED' }, at('rejected')],
        [{ kind: 'refuse', reason: 'CANCELLED' }, at('compensated', ['try', 'confirm'])],
        [{ kind: 'replay' }, at('compensated', ['try', 'confirm', 'compensate'])],
        // an earlier refusal is replayed rather than decided again
        [{ kind: 'replay' }, at('tried', ['try', 'compensate'])],
      ]),
    )('%s → %j', (_label, expected, given) => {
      expect(rules.decideCompensate(...args(given, 'compensate'))).toEqual(expected);
    });
  });

  it('says which status it does not know, rather than deciding on it', () => {
    expect(() => rules.decideConfirm({ status: 'LOST' }, false)).toThrow('unknown branch status LOST');
  });
});

describe('fenceRules', () => {
  it('refuses names that give two states the same status', () => {
    expect(() =>
      fenceRules({
        tried: 'HELD',
        confirmed: 'DONE',
        cancelled: 'DONE',
        expired: 'EXPIRED',
        rejected: 'REJECTED',
        compensated: 'REFUNDED',
      }),
    ).toThrow('status DONE names both the confirmed and the cancelled state');
  });
});
