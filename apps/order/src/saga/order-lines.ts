/** A line as a client orders it: a product and how many. */
export interface OrderedLine {
  productId: string;
  quantity: number;
}

/**
 * Lines that name one product become one line with their quantities added, in the order each
 * product first appears: every product is one branch of the saga, tried, confirmed or cancelled
 * once.
 */
export function mergeLines(lines: readonly OrderedLine[]): OrderedLine[] {
  const merged = new Map<string, number>();
  for (const l of lines) merged.set(l.productId, (merged.get(l.productId) ?? 0) + l.quantity);
  return [...merged].map(([productId, quantity]) => ({ productId, quantity }));
}
