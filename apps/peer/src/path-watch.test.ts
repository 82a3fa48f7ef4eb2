import { describe, expect, it } from 'vitest';
import { ReconnectPolicy } from '@mtcall/client';
import { PathWatch } from './path-watch.js';

describe('PathWatch', () => {
  it('passes the transport state through until media has arrived (a silent peer is not a broken path)', () => {
    const watch = new PathWatch();
    expect(watch.state('connecting', 0)).toBe('connecting');
    expect(watch.state('connected', 10_000)).toBe('connected');
    expect(watch.state('failed', 10_000)).toBe('failed');
  });

  it('no RTP for 2.5 s on a connected transport is disconnected; RTP again is connected', () => {
    const watch = new PathWatch();
    watch.rtp(1_000);
    expect(watch.state('connected', 3_499)).toBe('connected');
    expect(watch.state('connected', 3_500)).toBe('disconnected');
    expect(watch.state('connecting', 5_000)).toBe('connecting'); // an ICE restart under way
    watch.rtp(6_000);
    expect(watch.state('connected', 6_000)).toBe('connected');
  });

  it('after a recovery: a PLI at once, then every 500 ms until a key frame arrives', () => {
    const watch = new PathWatch();
    expect(watch.shouldRequestKeyFrame(0)).toBe(false);
    watch.recovered(1_000);
    expect(watch.shouldRequestKeyFrame(1_000)).toBe(true);
    expect(watch.shouldRequestKeyFrame(1_200)).toBe(false);
    expect(watch.shouldRequestKeyFrame(1_500)).toBe(true);
    watch.keyFrame();
    expect(watch.shouldRequestKeyFrame(5_000)).toBe(false);
  });

  it('drives the client ReconnectPolicy as the browsers do: reconnecting, ICE restart 2 s later, recovered with the outage', () => {
    const watch = new PathWatch();
    const policy = new ReconnectPolicy();
    watch.rtp(0);
    expect(policy.state(watch.state('connected', 0), 0)).toEqual([]);
    expect(policy.state(watch.state('connected', 2_500), 2_500)).toEqual([{ type: 'reconnecting', since: 2_500 }]);
    expect(policy.tick(4_500)).toEqual([{ type: 'restart-ice' }]);
    watch.rtp(6_000);
    expect(policy.state(watch.state('connected', 6_000), 6_000)).toEqual([{ type: 'recovered', downForMs: 3_500 }]);
  });
});
