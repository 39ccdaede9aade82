/*
 * A participant's resource (stock's product, payment's wallet) as three buckets of one quantity:
 * `free` to be taken (available, balance), `held` by live tries (reserved, held), and `final`
 * (sold, captured). Every change a saga makes moves an amount from one bucket to another, so the
 * sum of the three only changes outside the saga (restock, top-up). Pure: no database.
 */

export interface Buckets {
  free: number;
  held: number;
  final: number;
}

/**
 * The moves of a branch: a try holds, a confirm settles what was held (or, after the sweeper
 * released it, reacquires from free), a cancel or the sweeper releases, a compensation gives a
 * settled amount back.
 */
export type Move = 'hold' | 'settle' | 'reacquire' | 'release' | 'giveBack';

const MOVES: Readonly<Record<Move, readonly [from: keyof Buckets, to: keyof Buckets]>> = {
  hold: ['free', 'held'],
  settle: ['held', 'final'],
  reacquire: ['free', 'final'],
  release: ['held', 'free'],
  giveBack: ['final', 'free'],
};

/**
 * THE rule of every participant: a move takes only what its source bucket has (a try reserves
 * only if `available >= quantity`, holds only if `balance >= amount`). Answers the buckets after
 * the move, or undefined when the source bucket is short.
 */
export function move(buckets: Buckets, kind: Move, amount: number): Buckets | undefined {
  const [from, to] = MOVES[kind];
  if (!Number.isSafeInteger(amount) || amount < 0) throw new Error(`cannot move ${amount}`);
  if (buckets[from] < amount) return undefined;
  return { ...buckets, [from]: buckets[from] - amount, [to]: buckets[to] + amount };
}

/**
 * A move that the branch's own record says must fit (settling or releasing what a try held,
 * giving back what a confirm settled). A short bucket means the resource and its branches
 * disagree: an error, never a business outcome.
 */
export function mustMove(buckets: Buckets, kind: Move, amount: number, resource: string): Buckets {
  const moved = move(buckets, kind, amount);
  if (!moved) {
    const [from] = MOVES[kind];
    throw new Error(`${resource}: cannot ${kind} ${amount}, its ${from} bucket holds ${buckets[from]}`);
  }
  return moved;
}

export function sameBuckets(a: Buckets, b: Buckets): boolean {
  return a.free === b.free && a.held === b.held && a.final === b.final;
}
