import { RunMerger } from './run-merger';

/** A batch handler over letters that stops before the first upper-case one, recording each call. */
function stopsAtUpperCase() {
  const calls: string[][] = [];
  const handle = async (messages: readonly string[]) => {
    calls.push([...messages]);
    const stop = messages.findIndex((m) => m === m.toUpperCase());
    return stop === -1 ? messages.length : stop;
  };
  return { calls, handle };
}

describe('RunMerger', () => {
  it('hands the runs offered in one turn to the handler as one sequence, in the order offered', async () => {
    const { calls, handle } = stopsAtUpperCase();
    const merger = new RunMerger(handle, 100);
    const counts = await Promise.all([
      merger.offer(['a', 'b']),
      merger.offer(['c']),
      merger.offer(['d', 'e']),
    ]);
    expect(calls).toEqual([['a', 'b', 'c', 'd', 'e']]);
    expect(counts).toEqual([2, 1, 2]);
  });

  it('tells the run it stopped in how far it got, and offers the runs after it again at once', async () => {
    const { calls, handle } = stopsAtUpperCase();
    const merger = new RunMerger(handle, 100);
    const counts = await Promise.all([
      merger.offer(['a', 'b']),
      merger.offer(['c', 'D', 'e']),
      merger.offer(['f']),
    ]);
    // the first call stops at D; 'f' was not looked at, so it goes into the next call (alone)
    expect(calls).toEqual([['a', 'b', 'c', 'D', 'e', 'f'], ['f']]);
    expect(counts).toEqual([2, 1, 1]);
  });

  it('answers 0 to a run whose first message the handler refused, and keeps the runs after it', async () => {
    const { calls, handle } = stopsAtUpperCase();
    const merger = new RunMerger(handle, 100);
    const counts = await Promise.all([merger.offer(['a']), merger.offer(['B', 'c']), merger.offer(['d'])]);
    expect(calls).toEqual([['a', 'B', 'c', 'd'], ['d']]);
    expect(counts).toEqual([1, 0, 1]);
  });

  it('keeps a call to maxMessages, leaving the runs past it for the next call', async () => {
    const { calls, handle } = stopsAtUpperCase();
    const merger = new RunMerger(handle, 3);
    const counts = await Promise.all([
      merger.offer(['a', 'b']),
      merger.offer(['c', 'd']),
      merger.offer(['e']),
    ]);
    expect(calls).toEqual([
      ['a', 'b'],
      ['c', 'd', 'e'],
    ]);
    expect(counts).toEqual([2, 2, 1]);
  });

  it('takes a run longer than maxMessages whole when it is first', async () => {
    const { calls, handle } = stopsAtUpperCase();
    const merger = new RunMerger(handle, 2);
    expect(await merger.offer(['a', 'b', 'c'])).toBe(3);
    expect(calls).toEqual([['a', 'b', 'c']]);
  });

  it("rejects every run of a call whose handler threw, and does not hold up the next turn's runs", async () => {
    let fail = true;
    const merger = new RunMerger(async (messages: readonly string[]) => {
      if (fail) throw new Error('statement failed');
      return messages.length;
    }, 100);
    const first = [merger.offer(['a']), merger.offer(['b'])];
    await expect(Promise.allSettled(first)).resolves.toEqual([
      { status: 'rejected', reason: new Error('statement failed') },
      { status: 'rejected', reason: new Error('statement failed') },
    ]);
    fail = false;
    await expect(merger.offer(['c'])).resolves.toBe(1);
  });

  it('clamps an answer outside 0..length', async () => {
    const merger = new RunMerger(async () => -3, 100);
    expect(await merger.offer(['a'])).toBe(0);
    const greedy = new RunMerger(async () => 99, 100);
    expect(await Promise.all([greedy.offer(['a']), greedy.offer(['b', 'c'])])).toEqual([1, 2]);
  });
});
