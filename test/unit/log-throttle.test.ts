import { everyMs } from '../../src/logger';

describe('log throttling', () => {
  it('opens at most once per interval', () => {
    let now = 0;
    const gate = everyMs(1000, () => now);
    expect(gate()).toBe(true);
    now = 999;
    expect(gate()).toBe(false);
    now = 1000;
    expect(gate()).toBe(true);
  });
});
