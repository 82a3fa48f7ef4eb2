import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ReconnectPolicy, type PathState } from './reconnect.js';

describe('ReconnectPolicy (sans-IO)', () => {
  it('a short outage recovers by itself: reconnecting, then recovered, no ICE restart', () => {
    const p = new ReconnectPolicy();
    expect(p.state('connected', 0)).toEqual([]);
    expect(p.state('disconnected', 1000)).toEqual([{ type: 'reconnecting', since: 1000 }]);
    expect(p.nextWakeAt()).toBe(3000);
    expect(p.tick(2500)).toEqual([]);
    expect(p.state('connected', 2900)).toEqual([{ type: 'recovered', downForMs: 1900 }]);
    expect(p.restarts).toBe(0);
    expect(p.nextWakeAt()).toBeUndefined();
  });

  it('a longer outage restarts ICE after restartAfterMs, again every restartEveryMs, and recovers', () => {
    const p = new ReconnectPolicy({ restartAfterMs: 2000, restartEveryMs: 5000, giveUpAfterMs: 30000 });
    p.state('connected', 0);
    p.state('disconnected', 10_000);
    expect(p.tick(12_000)).toEqual([{ type: 'restart-ice' }]);
    expect(p.nextWakeAt()).toBe(17_000);
    expect(p.tick(16_999)).toEqual([]);
    expect(p.tick(17_000)).toEqual([{ type: 'restart-ice' }]);
    expect(p.state('connecting', 17_500)).toEqual([]);
    expect(p.state('connected', 18_000)).toEqual([{ type: 'recovered', downForMs: 8000 }]);
    expect(p.restarts).toBe(2);
  });

  it('failed restarts at once; down past giveUpAfterMs gives up once', () => {
    const p = new ReconnectPolicy({ restartAfterMs: 2000, restartEveryMs: 5000, giveUpAfterMs: 10_000 });
    p.state('connected', 0);
    expect(p.state('failed', 1000)).toEqual([{ type: 'reconnecting', since: 1000 }, { type: 'restart-ice' }]);
    expect(p.tick(11_000)).toEqual([{ type: 'give-up', downForMs: 10_000 }]);
    expect(p.tick(20_000)).toEqual([]);
    expect(p.state('connected', 21_000)).toEqual([]);
  });

  it('the first connection is not a reconnection', () => {
    const p = new ReconnectPolicy();
    expect(p.state('connecting', 0)).toEqual([]);
    expect(p.state('failed', 5000)).toEqual([]);
    expect(p.nextWakeAt()).toBeUndefined();
  });

  it('property: never restarts or gives up while connected; gives up at most once; recovered only after reconnecting', () => {
    const states: PathState[] = ['new', 'connecting', 'connected', 'disconnected', 'failed'];
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...states), fc.nat(5000)), { maxLength: 60 }), (steps) => {
        const p = new ReconnectPolicy({ restartAfterMs: 1000, restartEveryMs: 3000, giveUpAfterMs: 20_000 });
        let now = 0;
        let down = false;
        let gaveUp = 0;
        let current: PathState = 'new';
        for (const [state, dt] of steps) {
          now += dt;
          for (const a of p.tick(now)) {
            if (a.type === 'restart-ice' || a.type === 'give-up') expect(current).not.toBe('connected');
            if (a.type === 'give-up') gaveUp++;
          }
          current = state;
          for (const a of p.state(state, now)) {
            if (a.type === 'reconnecting') down = true;
            if (a.type === 'recovered') {
              expect(down).toBe(true);
              down = false;
            }
            if (a.type === 'give-up') gaveUp++;
          }
          const wake = p.nextWakeAt();
          if (wake !== undefined) expect(wake).toBeGreaterThanOrEqual(0);
        }
        expect(gaveUp).toBeLessThanOrEqual(1);
      }),
    );
  });
});
