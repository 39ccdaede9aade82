import { hashRequest } from './order-placements';

describe('the idempotency hash of POST /orders', () => {
  const request = {
    customerId: 'alice',
    lines: [
      { productId: 'keyboard', quantity: 1 },
      { productId: 'mouse', quantity: 2 },
    ],
  };

  it('is the same for the same request, whatever the order of its keys', () => {
    const reordered = {
      lines: [
        { quantity: 1, productId: 'keyboard' },
        { quantity: 2, productId: 'mouse' },
      ],
      customerId: 'alice',
    };
    expect(hashRequest(reordered)).toBe(hashRequest(request));
  });

  it('differs for another customer, another quantity, or the lines in another order', () => {
    const hashes = new Set([
      hashRequest(request),
      hashRequest({ ...request, customerId: 'bob' }),
      hashRequest({ ...request, lines: [{ productId: 'keyboard', quantity: 2 }, request.lines[1]!] }),
      hashRequest({ ...request, lines: [...request.lines].reverse() }),
    ]);
    expect(hashes.size).toBe(4);
  });
});
