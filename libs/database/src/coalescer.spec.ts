import { Coalescer } from './coalescer';

/** An error as pg reports it, with its SQLSTATE. */
function pgError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** A statement runner that records each call and answers when the test lets it. */
function recorder(fail: (jobs: readonly string[]) => Error | undefined = () => undefined) {
  const calls: string[][] = [];
  const waiting: (() => void)[] = [];
  const run = async (jobs: readonly string[]) => {
    calls.push([...jobs]);
    await new Promise<void>((resolve) => waiting.push(resolve));
    const error = fail(jobs);
    if (error) throw error;
    return jobs.map((j) => `done ${j}`);
  };
  /** lets every statement in flight finish, then waits for the ones they started */
  const release = async () => {
    for (let i = 0; i < 10; i++) {
      while (waiting.length > 0) waiting.shift()?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { calls, run, release };
}

describe('Coalescer', () => {
  it('runs a job at once when nothing is in flight', async () => {
    const r = recorder();
    const c = new Coalescer(r.run, { maxJobs: 10 });
    const done = c.submit('a');
    expect(r.calls).toEqual([['a']]);
    await r.release();
    await expect(done).resolves.toBe('done a');
  });

  it('runs the jobs that queued behind a statement together, in the next one', async () => {
    const r = recorder();
    const c = new Coalescer(r.run, { maxJobs: 10 });
    const all = ['a', 'b', 'c', 'd'].map((j) => c.submit(j));
    expect(r.calls).toEqual([['a']]);
    await r.release();
    expect(await Promise.all(all)).toEqual(['done a', 'done b', 'done c', 'done d']);
    expect(r.calls).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('puts at most maxJobs in one statement', async () => {
    const r = recorder();
    const c = new Coalescer(r.run, { maxJobs: 2 });
    const all = ['a', 'b', 'c', 'd', 'e', 'f'].map((j) => c.submit(j));
    await r.release();
    await Promise.all(all);
    expect(r.calls).toEqual([['a'], ['b', 'c'], ['d', 'e'], ['f']]);
  });

  it('never puts two jobs with one key in the same statement', async () => {
    const r = recorder();
    const c = new Coalescer(r.run, { maxJobs: 10, key: (j: string) => j.slice(0, 1) });
    const all = ['x1', 'y1', 'x2', 'x3', 'z1'].map((j) => c.submit(j));
    await r.release();
    await Promise.all(all);
    expect(r.calls).toEqual([['x1'], ['y1', 'x2', 'z1'], ['x3']]);
  });

  it('runs each job of a statement that failed for bad data alone, and fails only the one that fails alone', async () => {
    // 22P02: invalid_text_representation, what one job's bad value gives
    const r = recorder((jobs) =>
      jobs.includes('bad') ? pgError(`failed: ${jobs.join(',')}`, '22P02') : undefined,
    );
    const c = new Coalescer(r.run, { maxJobs: 10 });
    const first = c.submit('a');
    const rest = Promise.allSettled(['b', 'bad', 'c'].map((j) => c.submit(j)));
    await r.release();
    await expect(first).resolves.toBe('done a');
    expect(await rest).toEqual([
      { status: 'fulfilled', value: 'done b' },
      { status: 'rejected', reason: pgError('failed: bad', '22P02') },
      { status: 'fulfilled', value: 'done c' },
    ]);
    expect(r.calls).toEqual([['a'], ['b', 'bad', 'c'], ['b'], ['bad'], ['c']]);
  });

  it('fails every job of a statement that failed for anything else at once, without running them again', async () => {
    const away = pgError('connection terminated', '57P01');
    const r = recorder((jobs) => (jobs.length > 1 ? away : undefined));
    const c = new Coalescer(r.run, { maxJobs: 10 });
    const first = c.submit('a');
    const rest = Promise.allSettled(['b', 'c', 'd'].map((j) => c.submit(j)));
    await r.release();
    await expect(first).resolves.toBe('done a');
    expect(await rest).toEqual([
      { status: 'rejected', reason: away },
      { status: 'rejected', reason: away },
      { status: 'rejected', reason: away },
    ]);
    expect(r.calls).toEqual([['a'], ['b', 'c', 'd']]);
  });

  it('fails every job of a statement that answers the wrong number of results', async () => {
    const c = new Coalescer(async () => ['only one'], { maxJobs: 10 });
    const first = c.submit('a');
    const both = Promise.allSettled([c.submit('b'), c.submit('c')]);
    await expect(first).resolves.toBe('only one');
    const wrong = new Error('a statement of 2 jobs answered 1 results');
    expect(await both).toEqual([
      { status: 'rejected', reason: wrong },
      { status: 'rejected', reason: wrong },
    ]);
  });
});
