import { mergeLines } from './order-lines';

describe('order lines', () => {
  it('given lines that name one product, when merged, then one line with their quantities added', () => {
    expect(
      mergeLines([
        { productId: 'keyboard', quantity: 1 },
        { productId: 'mouse', quantity: 2 },
        { productId: 'keyboard', quantity: 3 },
      ]),
    ).toEqual([
      { productId: 'keyboard', quantity: 4 },
      { productId: 'mouse', quantity: 2 },
    ]);
  });

  it('given distinct products, when merged, then the lines as they were, in their order', () => {
    const lines = [
      { productId: 'mouse', quantity: 1 },
      { productId: 'cable', quantity: 5 },
    ];
    expect(mergeLines(lines)).toEqual(lines);
  });

  it('treats product ids that differ only in case as different products', () => {
    expect(
      mergeLines([
        { productId: 'a', quantity: 1 },
        { productId: 'A', quantity: 1 },
      ]),
    ).toHaveLength(2);
  });
});
