import { decideCancel, decideConfirm, decideRefund, decideTry } from './hold-rules';
import type {
  CancelOutcome,
  ConfirmOutcome,
  HoldFence,
  HoldStatus,
  Phase,
  RefundOutcome,
} from './hold-rules';

type Row<O> = [label: string, expected: O, given: HoldFence | undefined];

const fence = (status: HoldStatus, repliedPhases: Phase[] = ['try'], amount = 500): HoldFence => ({
  status,
  amount,
  repliedPhases,
});

describe('hold rules', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  const later = new Date('2026-01-01T12:00:10Z');
  const earlier = new Date('2026-01-01T11:59:50Z');

  describe('try', () => {
    it('holds when there is no fence and the deadline is ahead', () => {
      expect(decideTry(undefined, later, now)).toEqual({ kind: 'hold' });
    });

    it('rejects a try after its deadline', () => {
      expect(decideTry(undefined, earlier, now)).toEqual({ kind: 'reject', reason: 'DEADLINE_PASSED' });
    });

    it('replays a duplicate try, whatever happened since, even past the deadline', () => {
      for (const status of ['HELD', 'CAPTURED', 'RELEASED', 'EXPIRED', 'REJECTED', 'REFUNDED'] as const) {
        expect(decideTry(fence(status), earlier, now)).toEqual({ kind: 'replay' });
      }
    });

    it('rejects a hanging try: the cancel came first (empty rollback)', () => {
      expect(decideTry(fence('RELEASED', ['cancel'], 0), later, now)).toEqual({
        kind: 'reject',
        reason: 'ALREADY_CANCELLED',
      });
    });
  });

  describe('confirm', () => {
    it.each<Row<ConfirmOutcome>>([
      ['no hold', { kind: 'refuse', reason: 'NOT_RESERVED' }, undefined],
      ['HELD', { kind: 'capture' }, fence('HELD')],
      ['EXPIRED', { kind: 'reacquire-and-capture' }, fence('EXPIRED')],
      [
        'RELEASED after try, cancel',
        { kind: 'refuse', reason: 'CANCELLED' },
        fence('RELEASED', ['try', 'cancel']),
      ],
      ['RELEASED after cancel', { kind: 'refuse', reason: 'CANCELLED' }, fence('RELEASED', ['cancel'], 0)],
      ['REJECTED', { kind: 'refuse', reason: 'REJECTED' }, fence('REJECTED')],
      ['CAPTURED after try, confirm', { kind: 'replay' }, fence('CAPTURED', ['try', 'confirm'])],
      [
        'REFUNDED after try, confirm, refund',
        { kind: 'replay' },
        fence('REFUNDED', ['try', 'confirm', 'refund']),
      ],
    ])('%s → %j', (_label, expected, given) => {
      expect(decideConfirm(given)).toEqual(expected);
    });

    it('replays an earlier refusal rather than deciding again', () => {
      expect(decideConfirm(fence('EXPIRED', ['try', 'confirm']))).toEqual({ kind: 'replay' });
    });
  });

  describe('cancel', () => {
    it.each<Row<CancelOutcome>>([
      ['no hold', { kind: 'empty-rollback' }, undefined],
      ['HELD', { kind: 'release' }, fence('HELD')],
      [
        'CAPTURED after try, confirm',
        { kind: 'refuse', reason: 'CONFIRMED' },
        fence('CAPTURED', ['try', 'confirm']),
      ],
      ['EXPIRED', { kind: 'nothing-to-release' }, fence('EXPIRED')],
      ['REJECTED', { kind: 'nothing-to-release' }, fence('REJECTED')],
      [
        'REFUNDED after try, confirm, refund',
        { kind: 'nothing-to-release' },
        fence('REFUNDED', ['try', 'confirm', 'refund']),
      ],
      ['RELEASED after cancel', { kind: 'replay' }, fence('RELEASED', ['cancel'], 0)],
      ['RELEASED after try, cancel', { kind: 'replay' }, fence('RELEASED', ['try', 'cancel'])],
    ])('%s → %j', (_label, expected, given) => {
      expect(decideCancel(given)).toEqual(expected);
    });
  });

  describe('refund', () => {
    it.each<Row<RefundOutcome>>([
      ['CAPTURED after try, confirm', { kind: 'refund' }, fence('CAPTURED', ['try', 'confirm'])],
      ['no hold', { kind: 'refuse', reason: 'NOT_RESERVED' }, undefined],
      ['HELD', { kind: 'refuse', reason: 'NOT_CONFIRMED' }, fence('HELD')],
      [
        'RELEASED after try, cancel',
        { kind: 'refuse', reason: 'CANCELLED' },
        fence('RELEASED', ['try', 'cancel']),
      ],
      ['EXPIRED', { kind: 'refuse', reason: 'EXPIRED' }, fence('EXPIRED')],
      ['REJECTED', { kind: 'refuse', reason: 'REJECTED' }, fence('REJECTED')],
      [
        'REFUNDED after try, confirm, refund',
        { kind: 'replay' },
        fence('REFUNDED', ['try', 'confirm', 'refund']),
      ],
    ])('%s → %j', (_label, expected, given) => {
      expect(decideRefund(given)).toEqual(expected);
    });
  });
});
