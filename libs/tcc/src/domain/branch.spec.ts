import { move } from './buckets';
import { decide, evolveFence, evolveResource, holdExpiry } from './branch';
import type { BranchCommand, Fence, Outcome, Resource } from './branch';
import type { BranchState } from './fence-rules';

type Reply = { type: string };

const now = new Date('2026-01-01T12:00:00Z');
const later = new Date('2026-01-01T12:00:10Z');
const earlier = new Date('2026-01-01T11:59:50Z');
const MAX_HOLD = 60_000;
const words = { SHORT: 'OUT_OF_STOCK', UNKNOWN: 'UNKNOWN_PRODUCT' };

const tryOf = (amount: number, deadline = later): BranchCommand => ({
  phase: 'try',
  orderId: 'o',
  resourceId: 'p',
  amount,
  deadline,
  holdUntil: new Date(now.getTime() + 30_000),
});
const phase = (p: 'confirm' | 'cancel' | 'compensate', resourceId = 'p'): BranchCommand => ({
  phase: p,
  orderId: 'o',
  resourceId,
});
const resource = (free: number, held = 0, final = 0): Resource => ({
  id: 'p',
  buckets: { free, held, final },
  attributes: {},
});
const fence = (state: BranchState, amount = 2, replied: string[] = ['try']): Fence<Reply> => ({
  state,
  resourceId: 'p',
  amount,
  reason: null,
  expiresAt: null,
  replies: Object.fromEntries(replied.map((p) => [p, { type: `${p}-reply` }])),
  copied: {},
});

/** given a fence and a resource, when a command comes: the outcome, and what it leaves. */
function when(command: BranchCommand, given: { fence?: Fence<Reply>; resource?: Resource }) {
  const outcome: Outcome<Reply> = decide(command, given.fence, given.resource, now, MAX_HOLD);
  const reply = { type: 'new' };
  return {
    outcome,
    fence: evolveFence(given.fence, command, outcome, reply, { words, copied: { unit_price: 7 } }),
    buckets: given.resource && evolveResource(given.resource, outcome),
  };
}

describe('the one rule: a move takes only what its source bucket holds', () => {
  it('holds from free while free covers it', () => {
    expect(move({ free: 3, held: 0, final: 0 }, 'hold', 3)).toEqual({ free: 0, held: 3, final: 0 });
    expect(move({ free: 2, held: 0, final: 0 }, 'hold', 3)).toBeUndefined();
  });

  it('settles, releases, reacquires and gives back between the named buckets', () => {
    const b = { free: 5, held: 4, final: 3 };
    expect(move(b, 'settle', 2)).toEqual({ free: 5, held: 2, final: 5 });
    expect(move(b, 'release', 2)).toEqual({ free: 7, held: 2, final: 3 });
    expect(move(b, 'reacquire', 2)).toEqual({ free: 3, held: 4, final: 5 });
    expect(move(b, 'giveBack', 3)).toEqual({ free: 8, held: 4, final: 0 });
    expect(move(b, 'giveBack', 4)).toBeUndefined();
  });

  it('refuses amounts that are not whole and non-negative', () => {
    expect(() => move({ free: 5, held: 0, final: 0 }, 'hold', 1.5)).toThrow('cannot move 1.5');
    expect(() => move({ free: 5, held: 0, final: 0 }, 'hold', -1)).toThrow('cannot move -1');
  });
});

describe('a branch', () => {
  describe('given no fence', () => {
    it('when a try comes and the resource covers it: tried, held, expiring at what the order asked', () => {
      const then = when(tryOf(2), { resource: resource(2) });
      expect(then.outcome).toEqual({ kind: 'tried', amount: 2, expiresAt: new Date(now.getTime() + 30_000) });
      expect(then.buckets).toEqual({ free: 0, held: 2, final: 0 });
      expect(then.fence).toMatchObject({ state: 'tried', amount: 2, copied: { unit_price: 7 } });
      expect(then.fence?.replies).toEqual({ try: { type: 'new' } });
    });

    it('when a try comes and the resource is short: rejected in the participant words, nothing moves', () => {
      const then = when(tryOf(3), { resource: resource(2) });
      expect(then.outcome).toEqual({ kind: 'rejected', reason: 'SHORT' });
      expect(then.buckets).toEqual({ free: 2, held: 0, final: 0 });
      expect(then.fence).toMatchObject({ state: 'rejected', amount: 3, reason: 'OUT_OF_STOCK' });
    });

    it('when a try comes for an unknown resource: rejected as unknown', () => {
      expect(when(tryOf(1), {}).fence).toMatchObject({ state: 'rejected', reason: 'UNKNOWN_PRODUCT' });
    });

    it('when a try comes past its deadline: rejected, whatever the resource holds', () => {
      expect(when(tryOf(1, earlier), { resource: resource(9) }).outcome).toEqual({
        kind: 'rejected',
        reason: 'DEADLINE_PASSED',
      });
    });

    it('when a cancel comes first: an empty rollback is remembered, so a late try is refused', () => {
      const cancelled = when(phase('cancel'), { resource: resource(5) });
      expect(cancelled.outcome).toEqual({ kind: 'cancelled', effect: 'empty-rollback', released: 0 });
      expect(cancelled.fence).toMatchObject({ state: 'cancelled', amount: 0, reason: 'EMPTY_ROLLBACK' });
      const late = when(tryOf(1), { fence: cancelled.fence, resource: resource(5) });
      expect(late.outcome).toEqual({ kind: 'rejected', reason: 'ALREADY_CANCELLED' });
      expect(late.buckets).toEqual({ free: 5, held: 0, final: 0 });
    });

    it('when a confirm or a compensation comes: refused NOT_RESERVED, and no fence is written', () => {
      for (const p of ['confirm', 'compensate'] as const) {
        const then = when(phase(p), { resource: resource(5) });
        expect(then.outcome).toEqual({ kind: 'refused', reason: 'NOT_RESERVED' });
        expect(then.fence).toBeUndefined();
      }
    });
  });

  describe('given a tried fence', () => {
    it('when confirmed: what was held is settled', () => {
      const then = when(phase('confirm'), { fence: fence('tried'), resource: resource(0, 2) });
      expect(then.outcome).toEqual({ kind: 'confirmed', amount: 2, reacquired: false });
      expect(then.buckets).toEqual({ free: 0, held: 0, final: 2 });
      expect(then.fence?.state).toBe('confirmed');
    });

    it('when cancelled: what was held is released', () => {
      const then = when(phase('cancel'), { fence: fence('tried'), resource: resource(0, 2) });
      expect(then.outcome).toEqual({ kind: 'cancelled', effect: 'released', released: 2 });
      expect(then.buckets).toEqual({ free: 2, held: 0, final: 0 });
    });

    it('when the same try comes again: its first reply is replayed, nothing moves', () => {
      const then = when(tryOf(2), { fence: fence('tried'), resource: resource(0, 2) });
      expect(then.outcome).toEqual({ kind: 'replay', reply: { type: 'try-reply' } });
      expect(then.buckets).toEqual({ free: 0, held: 2, final: 0 });
    });

    it('when the resource no longer holds what the fence says: an error, not an outcome', () => {
      expect(() => when(phase('confirm'), { fence: fence('tried'), resource: resource(5, 1) })).toThrow(
        'p: cannot settle 2, its held bucket holds 1',
      );
    });

    it("when the command names another resource than the fence's: foreign, and nothing changes", () => {
      const given = { fence: fence('tried'), resource: resource(0, 2) };
      const then = when(phase('confirm', 'q'), given);
      expect(then.outcome).toEqual({ kind: 'foreign', owner: 'p' });
      expect(then.fence).toBe(given.fence);
    });
  });

  describe('given an expired fence (the sweeper released it)', () => {
    it('when a confirm comes and the resource still has it: reacquired from free', () => {
      const then = when(phase('confirm'), { fence: fence('expired'), resource: resource(2) });
      expect(then.outcome).toEqual({ kind: 'confirmed', amount: 2, reacquired: true });
      expect(then.buckets).toEqual({ free: 0, held: 0, final: 2 });
    });

    it('when a confirm comes and the resource is gone: refused EXPIRED, the fence stays expired', () => {
      const then = when(phase('confirm'), { fence: fence('expired'), resource: resource(1) });
      expect(then.outcome).toEqual({ kind: 'refused', reason: 'EXPIRED' });
      expect(then.fence?.state).toBe('expired');
      expect(then.fence?.replies['confirm']).toEqual({ type: 'new' });
    });

    it('when a cancel comes: nothing is held, the cancel succeeds without moving anything', () => {
      const then = when(phase('cancel'), { fence: fence('expired'), resource: resource(2) });
      expect(then.outcome).toEqual({ kind: 'cancelled', effect: 'nothing-held', released: 0 });
      expect(then.buckets).toEqual({ free: 2, held: 0, final: 0 });
    });
  });

  describe('given a confirmed fence', () => {
    it('when compensated: what was settled is given back', () => {
      const then = when(phase('compensate'), {
        fence: fence('confirmed', 2, ['try', 'confirm']),
        resource: resource(0, 0, 2),
      });
      expect(then.outcome).toEqual({ kind: 'compensated', amount: 2 });
      expect(then.buckets).toEqual({ free: 2, held: 0, final: 0 });
      expect(then.fence?.state).toBe('compensated');
    });

    it('when a cancel comes: refused CONFIRMED', () => {
      const then = when(phase('cancel'), {
        fence: fence('confirmed', 2, ['try', 'confirm']),
        resource: resource(0, 0, 2),
      });
      expect(then.outcome).toEqual({ kind: 'refused', reason: 'CONFIRMED' });
      expect(then.buckets).toEqual({ free: 0, held: 0, final: 2 });
    });
  });

  it("bounds a hold by the order's wish and by the participant's maximum", () => {
    expect(holdExpiry(later, now, MAX_HOLD)).toEqual(later);
    expect(holdExpiry(new Date(now.getTime() + 3_600_000), now, MAX_HOLD)).toEqual(
      new Date(now.getTime() + MAX_HOLD),
    );
  });
});
