import { KeyedTurns } from './keyed-turns';

describe('KeyedTurns', () => {
  it('runs the work of one key one at a time, in order, and other keys alongside', async () => {
    const turns = new KeyedTurns();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const first = turns.run('a', async () => {
      log.push('a1 start');
      await gate;
      log.push('a1 end');
    });
    const second = turns.run('a', async () => void log.push('a2'));
    await turns.run('b', async () => void log.push('b1'));
    expect(log).toEqual(['a1 start', 'b1']);
    release();
    await Promise.all([first, second]);
    expect(log).toEqual(['a1 start', 'b1', 'a1 end', 'a2']);
  });

  it('goes on with the next turn when one fails, and answers each its own outcome', async () => {
    const turns = new KeyedTurns();
    const failed = turns.run('a', () => Promise.reject(new Error('boom')));
    const next = turns.run('a', () => Promise.resolve(7));
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe(7);
  });
});
