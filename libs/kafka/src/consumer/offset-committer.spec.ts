import { waitFor } from '@tcc/testing';
import { OffsetCommitter } from './offset-committer';
import type { PartitionOffset } from './offset-committer';

/** A commit function whose requests the test answers one by one. */
function controlledCommit() {
  const requests: { offsets: PartitionOffset[]; resolve: () => void; reject: (e: Error) => void }[] = [];
  const commit = (offsets: PartitionOffset[]) =>
    new Promise<void>((resolve, reject) => requests.push({ offsets, resolve, reject }));
  return { requests, commit };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('OffsetCommitter', () => {
  it('sends the first mark at once and coalesces marks made meanwhile into one request', async () => {
    const { requests, commit } = controlledCommit();
    const committer = new OffsetCommitter({ commit, onError: () => undefined });
    committer.mark('t', 0, '1');
    await tick();
    committer.mark('t', 0, '2');
    committer.mark('t', 1, '7');
    committer.mark('t', 0, '3');
    expect(requests).toHaveLength(1);
    expect(requests[0]?.offsets).toEqual([{ topic: 't', partition: 0, offset: '1' }]);

    requests[0]?.resolve();
    await tick();
    expect(requests).toHaveLength(2);
    expect(requests[1]?.offsets).toEqual([
      { topic: 't', partition: 0, offset: '3' },
      { topic: 't', partition: 1, offset: '7' },
    ]);
    requests[1]?.resolve();
    await committer.flush();
    expect(requests).toHaveLength(2);
    expect(committer.backlog).toBe(0);
  });

  it('keeps requests intervalMs apart, gathering the marks made meanwhile, unless flushed', async () => {
    const { requests, commit } = controlledCommit();
    const committer = new OffsetCommitter({ commit, onError: () => undefined, intervalMs: 60_000 });
    committer.mark('t', 0, '1');
    await tick();
    expect(requests).toHaveLength(1);
    requests[0]?.resolve();
    await tick();

    committer.mark('t', 0, '2');
    committer.mark('t', 1, '5');
    await tick();
    committer.mark('t', 0, '3');
    await tick();
    // the next request waits for the interval, however long the marks have been there
    expect(requests).toHaveLength(1);
    expect(committer.backlog).toBe(2);

    // shutdown and rebalances do not wait
    const flushed = committer.flush();
    await tick();
    expect(requests).toHaveLength(2);
    expect(requests[1]?.offsets).toEqual([
      { topic: 't', partition: 0, offset: '3' },
      { topic: 't', partition: 1, offset: '5' },
    ]);
    requests[1]?.resolve();
    await flushed;
    expect(committer.backlog).toBe(0);
  });

  it('sends the gathered marks once the interval has passed', async () => {
    const { requests, commit } = controlledCommit();
    const committer = new OffsetCommitter({ commit, onError: () => undefined, intervalMs: 50 });
    committer.mark('t', 0, '1');
    await tick();
    requests[0]?.resolve();
    committer.mark('t', 0, '2');
    await waitFor(() => requests.length === 2, { description: 'the second request' });
    expect(requests.map((r) => r.offsets)).toEqual([
      [{ topic: 't', partition: 0, offset: '1' }],
      [{ topic: 't', partition: 0, offset: '2' }],
    ]);
    requests[1]?.resolve();
    await committer.flush();
  });

  it('sends a failed request again, unless a newer mark for that partition replaced it', async () => {
    const { requests, commit } = controlledCommit();
    const errors: number[] = [];
    const committer = new OffsetCommitter({
      commit,
      onError: (_e, _o, attempt) => errors.push(attempt),
      retryDelayMs: () => 1,
    });
    committer.mark('t', 0, '5');
    committer.mark('t', 1, '9');
    await tick();
    committer.mark('t', 1, '10');
    requests[0]?.reject(new Error('coordinator moved'));
    await waitFor(() => requests.length === 2, { intervalMs: 1, description: 'the request sent again' });
    expect(errors).toEqual([1]);
    expect(requests[1]?.offsets).toEqual([
      { topic: 't', partition: 1, offset: '10' },
      { topic: 't', partition: 0, offset: '5' },
    ]);
    requests[1]?.resolve();
    await committer.flush();
  });

  it('drops marks for partitions a rebalance took away, and never re-sends them', async () => {
    const { requests, commit } = controlledCommit();
    const committer = new OffsetCommitter({ commit, onError: () => undefined, retryDelayMs: () => 1 });
    committer.mark('t', 0, '1');
    await tick();
    committer.mark('t', 1, '4');
    committer.mark('t', 2, '8');
    committer.assign({ t: [0, 2] });
    expect(committer.backlog).toBe(1);
    requests[0]?.resolve();
    await tick();
    expect(requests[1]?.offsets).toEqual([{ topic: 't', partition: 2, offset: '8' }]);

    committer.assign({ t: [0] });
    committer.mark('t', 2, '9');
    requests[1]?.reject(new Error('not the owner any more'));
    await committer.flush();
    expect(requests).toHaveLength(2);
  });
});
