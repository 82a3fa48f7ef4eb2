import { describe, expect, it } from 'vitest';
import { Emitter, MtcallError, isMtcallError } from './index.js';

class Thing extends Emitter<{ ping: number; done: string }> {
  fire<K extends 'ping' | 'done'>(event: K, value: { ping: number; done: string }[K]): void {
    this.emit(event, value);
  }
}

describe('Emitter', () => {
  it('on/once/off/next deliver typed values', async () => {
    const thing = new Thing();
    const seen: number[] = [];
    const off = thing.on('ping', (n) => seen.push(n));
    thing.once('ping', (n) => seen.push(n * 10));
    thing.fire('ping', 1);
    thing.fire('ping', 2);
    off();
    thing.fire('ping', 3);
    expect(seen).toEqual([1, 10, 2]);
    const next = thing.next('done', 1000);
    thing.fire('done', 'yes');
    expect(await next).toBe('yes');
    await expect(thing.next('done', 10)).rejects.toThrow(/timed out/);
  });
});

describe('MtcallError', () => {
  it('carries a code and a cause; isMtcallError narrows by code', () => {
    const cause = new Error('inner');
    const error = new MtcallError('not-connected', 'connect first', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('not-connected');
    expect(error.cause).toBe(cause);
    expect(isMtcallError(error)).toBe(true);
    expect(isMtcallError(error, 'not-connected')).toBe(true);
    expect(isMtcallError(error, 'other')).toBe(false);
    expect(isMtcallError(new Error('x'))).toBe(false);
  });
});
