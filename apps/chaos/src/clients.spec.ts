import { makeCatalog, makeOrder } from './clients';
import { Prng } from './prng';

describe('catalog and orders', () => {
  it('has scarce products and poor customers beside plentiful ones, and orders that use all of them', () => {
    const catalog = makeCatalog(new Prng(3));
    expect(catalog.scarce.every((p) => p.quantity <= 12)).toBe(true);
    expect(catalog.poor.every((c) => c.balance <= 6_000)).toBe(true);
    const prng = new Prng(4);
    const orders = Array.from({ length: 500 }, () => makeOrder(prng, catalog));
    const products = new Set(orders.flatMap((o) => o.lines.map((l) => l.productId)));
    const customers = new Set(orders.map((o) => o.customerId));
    expect(catalog.scarce.every((p) => products.has(p.id))).toBe(true);
    expect(products.has('chaos-no-such-product')).toBe(true);
    expect(catalog.poor.some((c) => customers.has(c.id))).toBe(true);
    for (const o of orders) {
      expect(o.lines.length).toBeGreaterThanOrEqual(1);
      expect(new Set(o.lines.map((l) => l.productId)).size).toBe(o.lines.length);
      expect(o.lines.every((l) => l.quantity >= 1 && l.quantity <= 3)).toBe(true);
    }
  });
});
