import { main } from './main';

describe('./dev bench: which database it watches', () => {
  it('given neither --order-db nor POSTGRES_URL, says what to give', async () => {
    const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main([], {})).toBe(2);
      expect(String(write.mock.calls[0]?.[0])).toMatch(
        /^bench: no order database: give --order-db or POSTGRES_URL \(\.\/dev bench sets it/,
      );
    } finally {
      write.mockRestore();
    }
  });
});
