import { deadlineWarning } from './saga-scheduler';

describe('deadlineWarning', () => {
  it('is silent when the try deadline outlasts a takeover with room for the backlog (the defaults)', () => {
    expect(deadlineWarning({ tryTimeoutMs: 10_000, crashTakeoverMs: 8_000 })).toBeUndefined();
  });

  it('says why a deadline within a takeover would cancel orders after a crash', () => {
    expect(deadlineWarning({ tryTimeoutMs: 5_000, crashTakeoverMs: 8_000 })).toMatch(
      /ORDER_TRY_TIMEOUT_MS \(5000\).*up to 8000 ms.*TIMEOUT/,
    );
  });
});
