import { MemoryState } from '../../src/state/memory-state';
import { StateUnavailable, type SharedState } from '../../src/state/shared-state';

/**
 * A MemoryState that can be made unreachable, as Redis is when it is down: every operation then
 * fails with StateUnavailable. For unit tests of what the core classes do when Redis fails.
 */
export function flakyState(): { state: SharedState; memory: MemoryState; setDown: (isDown: boolean) => void } {
  const memory = new MemoryState();
  let isDown = false;
  const state = new Proxy(memory, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || property === 'close' || property === 'kind') return value;
      return (...args: unknown[]) => {
        if (isDown) return Promise.reject(new StateUnavailable(String(property), new Error('down')));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    state,
    memory,
    setDown: (down) => {
      isDown = down;
    },
  };
}
