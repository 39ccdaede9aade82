import { isFinal, isResending } from './saga-state';
import type { OrderStatus } from './saga-state';

describe('order statuses', () => {
  const all: OrderStatus[] = ['TRYING', 'CONFIRMING', 'CANCELLING', 'CONFIRMED', 'CANCELLED'];

  it('an order is over once CONFIRMED or CANCELLED', () => {
    expect(all.filter(isFinal)).toEqual(['CONFIRMED', 'CANCELLED']);
  });

  it('confirms and cancels are sent again only while CONFIRMING or CANCELLING', () => {
    expect(all.filter(isResending)).toEqual(['CONFIRMING', 'CANCELLING']);
  });
});
