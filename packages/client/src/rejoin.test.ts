import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { RejoinPolicy } from './rejoin.js';

describe('RejoinPolicy (sans-IO)', () => {
  it('lost: rejoining and an attempt at once; joined: rejoined', () => {
    const p = new RejoinPolicy();
    expect(p.lost(1000)).toEqual([{ type: 'rejoining', since: 1000 }, { type: 'attempt', attempt: 1 }]);
    expect(p.rejoining).toBe(true);
    expect(p.nextWakeAt()).toBe(21_000); // the attempt runs: abandoned if unanswered by then
    expect(p.lost(1100)).toEqual([]);
    expect(p.joined(1800)).toEqual([{ type: 'rejoined', downForMs: 800, attempts: 1 }]);
    expect(p.rejoining).toBe(false);
    expect(p.nextWakeAt()).toBeUndefined();
  });

  it('refused attempts back off (doubling, capped, jittered) until one joins', () => {
    const p = new RejoinPolicy({ firstRetryMs: 500, maxRetryMs: 2000, jitter: 0.5, giveUpAfterMs: 60_000 }, () => 0.5);
    p.lost(0);
    expect(p.failed(100)).toEqual([]);
    expect(p.nextWakeAt()).toBe(100 + 500 * 0.75);
    expect(p.tick(474)).toEqual([]);
    expect(p.tick(475)).toEqual([{ type: 'attempt', attempt: 2 }]);
    p.failed(500);
    expect(p.nextWakeAt()).toBe(500 + 1000 * 0.75);
    expect(p.tick(1250)).toEqual([{ type: 'attempt', attempt: 3 }]);
    p.failed(1300);
    expect(p.nextWakeAt()).toBe(1300 + 1500); // 2000 (capped) × 0.75
    expect(p.tick(2800)).toEqual([{ type: 'attempt', attempt: 4 }]);
    p.failed(3000);
    expect(p.nextWakeAt()).toBe(4500); // still capped
    expect(p.tick(4500)).toEqual([{ type: 'attempt', attempt: 5 }]);
    expect(p.joined(4700)).toEqual([{ type: 'rejoined', downForMs: 4700, attempts: 5 }]);
  });

  it('the connection back while waiting: the next attempt at once', () => {
    const p = new RejoinPolicy({ firstRetryMs: 4000 }, () => 0);
    p.lost(0);
    p.failed(10);
    expect(p.nextWakeAt()).toBe(4010);
    expect(p.online(20)).toEqual([{ type: 'attempt', attempt: 2 }]);
    expect(p.online(30)).toEqual([]); // one attempt at a time
  });

  it('an unanswered attempt is abandoned once after attemptTimeoutMs, then retried as a failed one', () => {
    const p = new RejoinPolicy({ firstRetryMs: 1000, jitter: 0, attemptTimeoutMs: 5000 });
    p.lost(0);
    expect(p.tick(4999)).toEqual([]);
    expect(p.tick(5000)).toEqual([{ type: 'abandon-attempt', attempt: 1 }]);
    expect(p.tick(6000)).toEqual([]); // abandoned once; the session fails the attempt
    expect(p.nextWakeAt()).toBeUndefined();
    p.failed(6000);
    expect(p.nextWakeAt()).toBe(7000);
    expect(p.tick(7000)).toEqual([{ type: 'attempt', attempt: 2 }]);
  });

  it('gives up after giveUpAfterMs, once, not while an attempt runs', () => {
    const p = new RejoinPolicy({ firstRetryMs: 1000, maxRetryMs: 1000, jitter: 0, attemptTimeoutMs: 60_000, giveUpAfterMs: 5000 });
    p.lost(0);
    expect(p.tick(6000)).toEqual([]); // attempt 1 still running
    expect(p.failed(6000)).toEqual([{ type: 'give-up', downForMs: 6000, attempts: 1 }]);
    expect(p.tick(9000)).toEqual([]);
    expect(p.lost(9000)).toEqual([]);
    expect(p.joined(9000)).toEqual([]);
    expect(p.nextWakeAt()).toBeUndefined();
  });

  it('the give-up time is a wake-up time while waiting', () => {
    const p = new RejoinPolicy({ firstRetryMs: 8000, maxRetryMs: 8000, jitter: 0, giveUpAfterMs: 3000 });
    p.lost(0);
    p.failed(100);
    expect(p.nextWakeAt()).toBe(3000);
    expect(p.tick(3000)).toEqual([{ type: 'give-up', downForMs: 3000, attempts: 1 }]);
  });

  it('a second outage after rejoining starts afresh', () => {
    const p = new RejoinPolicy({}, () => 0);
    p.lost(0);
    p.joined(100);
    expect(p.lost(5000)).toEqual([{ type: 'rejoining', since: 5000 }, { type: 'attempt', attempt: 1 }]);
  });

  it('bad options are a RangeError', () => {
    expect(() => new RejoinPolicy({ jitter: 2 })).toThrow(RangeError);
    expect(() => new RejoinPolicy({ giveUpAfterMs: -1 })).toThrow(RangeError);
    expect(() => new RejoinPolicy({ firstRetryMs: Number.NaN })).toThrow(RangeError);
    expect(() => new RejoinPolicy({ attemptTimeoutMs: Number.POSITIVE_INFINITY })).toThrow(RangeError);
  });

  it('property: one attempt at a time, attempts only while rejoining, delays within the backoff, gives up at most once', () => {
    const step = fc.oneof(
      fc.tuple(fc.constant('lost' as const), fc.nat(3000)),
      fc.tuple(fc.constant('failed' as const), fc.nat(3000)),
      fc.tuple(fc.constant('joined' as const), fc.nat(3000)),
      fc.tuple(fc.constant('online' as const), fc.nat(3000)),
      fc.tuple(fc.constant('tick' as const), fc.nat(3000)),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (steps, r) => {
        const p = new RejoinPolicy({ firstRetryMs: 200, maxRetryMs: 1600, jitter: 0.5, giveUpAfterMs: 20_000 }, () => r);
        let now = 0;
        let running = false;
        let rejoining = false;
        let gaveUp = 0;
        for (const [input, dt] of steps) {
          now += dt;
          const before = p.nextWakeAt();
          const actions = input === 'tick' ? p.tick(now) : p[input](now);
          for (const a of actions) {
            if (a.type === 'rejoining') {
              expect(rejoining).toBe(false);
              rejoining = true;
            }
            if (a.type === 'attempt') {
              expect(rejoining && !running).toBe(true);
              running = true;
            }
            if (a.type === 'rejoined') {
              expect(running).toBe(true);
              running = rejoining = false;
            }
            if (a.type === 'abandon-attempt') expect(running).toBe(true);
            if (a.type === 'give-up') {
              gaveUp++;
              running = rejoining = false;
            }
          }
          if (input === 'failed' && actions.length === 0 && rejoining) running = false;
          if (input === 'tick' && before !== undefined && now < before) expect(actions).toEqual([]);
          const wake = p.nextWakeAt();
          if (wake !== undefined && input === 'failed' && actions.length === 0) expect(wake - now).toBeLessThanOrEqual(1600);
        }
        expect(gaveUp).toBeLessThanOrEqual(1);
      }),
    );
  });
});
