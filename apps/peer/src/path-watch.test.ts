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

  it('outgoing: a far side that never answers, or a peer that stopped sending, is not a broken path', () => {
    const never = new PathWatch();
    for (let now = 0; now <= 9_000; now += 20) never.sent(now);
    expect(never.state('connected', 9_000)).toBe('connected');
    const stopped = new PathWatch();
    stopped.answered(0);
    stopped.answered(100);
    stopped.sent(100); // the last packet we sent: never answered, but we no longer send
    expect(stopped.state('connected', 2_599)).toBe('connected');
    expect(stopped.state('connected', 9_000)).toBe('connected');
  });

  it('our media unanswered (issue 14): the far side\'s RTP arrives, we send, but no transport-wide feedback for 2.5 s is disconnected; the next one is connected', () => {
    const watch = new PathWatch();
    let now = 0;
    for (; now <= 1_000; now += 20) {
      watch.rtp(now);
      watch.sent(now);
      if (now % 100 === 0) watch.answered(now);
    }
    // The feedback stops (last at 1 000); what we sent from 1 020 on is never answered, while the far side's RTP arrives.
    for (; now <= 3_500; now += 20) {
      watch.rtp(now);
      watch.sent(now);
    }
    expect(watch.state('connected', 3_500)).toBe('connected');
    expect(watch.state('connected', 3_520)).toBe('disconnected');
    watch.answered(9_000);
    watch.sent(9_000);
    watch.rtp(9_000);
    expect(watch.state('connected', 9_000)).toBe('connected');
  });

  it('a far side that answers only every few seconds is not watched: no false alarm', () => {
    const watch = new PathWatch();
    for (let now = 0; now <= 30_000; now += 20) {
      watch.rtp(now);
      watch.sent(now);
      if (now % 5_000 === 0) watch.answered(now);
      expect(watch.state('connected', now)).toBe('connected');
    }
  });
});
