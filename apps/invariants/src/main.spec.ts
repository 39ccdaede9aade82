import { main } from './main';

/** main's stderr while it runs */
async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  const write = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    const code = await main(argv, env);
    return { code, stderr: write.mock.calls.map((c) => String(c[0])).join('') };
  } finally {
    write.mockRestore();
  }
}

describe('./dev check: which databases it reads', () => {
  it('given no database and no POSTGRES_URL, says what to give', async () => {
    const { code, stderr } = await run(['--no-kafka'], {});
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^check: no order database: give --order-db or ORDER_DATABASE_URL, or POSTGRES_URL/,
    );
  });

  it('given POSTGRES_URL, reads tcc_<service> on that server', async () => {
    // nothing listens on port 1: the message names the database it tried
    const { code, stderr } = await run(['--no-kafka'], {
      POSTGRES_URL: 'postgres://postgres@127.0.0.1:1/postgres',
    });
    expect(code).toBe(3);
    expect(stderr).toMatch(
      /^check: cannot read postgres:\/\/postgres@127\.0\.0\.1:1\/tcc_(order|stock|payment): /,
    );
  });
});
