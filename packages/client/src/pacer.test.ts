/** The sending-side token bucket (sans-IO, injected time). */

import { describe, expect, it } from 'vitest';
import { Pacer } from './pacer.js';

describe('Pacer', () => {
  it('lets a burst go at once, then one item per 1/rate seconds, in order', () => {
    const pacer = new Pacer<number>({ perSecond: 10, burst: 3 }, 0);
    for (let i = 0; i < 6; i++) pacer.push(i);
    expect(pacer.take(0)).toEqual([0, 1, 2]);
    expect(pacer.nextAt(0)).toBe(100);
    expect(pacer.take(99)).toEqual([]);
    expect(pacer.take(100)).toEqual([3]);
    expect(pacer.take(300)).toEqual([4, 5]);
    expect(pacer.nextAt(300)).toBeUndefined();
  });

  it('never releases more than the configured rate over any stretch of time', () => {
    const pacer = new Pacer<number>({ perSecond: 40, burst: 100 }, 0);
    for (let i = 0; i < 500; i++) pacer.push(i);
    const released: number[] = [];
    for (let now = 0; pacer.length > 0; now = pacer.nextAt(now)!) released.push(...pacer.take(now).map(() => now));
    expect(released).toHaveLength(500);
    for (let i = 100; i < 500; i++) expect(released[i]!).toBeGreaterThanOrEqual(((i - 99) * 1000) / 40 - 1);
    expect(released[499]!).toBeLessThanOrEqual(10_000 + 25);
  });

  it('a refusal empties the bucket and halves the rate, which recovers over ten seconds', () => {
    const pacer = new Pacer<string>({ perSecond: 10, burst: 10 }, 0);
    pacer.push('a');
    pacer.refused(0);
    expect(pacer.rate).toBe(5);
    expect(pacer.take(0)).toEqual([]);
    expect(pacer.nextAt(0)).toBe(200);
    pacer.again('first');
    pacer.again('second');
    expect(pacer.take(200)).toEqual(['first']);
    expect(pacer.take(600)).toEqual(['second', 'a']);
    pacer.take(10_000);
    expect(pacer.rate).toBe(10);
    for (let i = 0; i < 20; i++) pacer.refused(20_000);
    expect(pacer.rate).toBe(1);
  });

  it('retains only what it is told to keep; refuses a non-positive pace', () => {
    const pacer = new Pacer<number>({ perSecond: 1, burst: 1 }, 0);
    for (let i = 0; i < 5; i++) pacer.push(i);
    pacer.retain((n) => n % 2 === 0);
    expect(pacer.take(10_000)).toEqual([0]);
    expect(pacer.length).toBe(2);
    expect(() => new Pacer({ perSecond: 0, burst: 1 }, 0)).toThrow(RangeError);
  });
});
