import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { SECURITY_STATES, SecurityMonitor, type SecurityState } from './security.js';

describe('SecurityMonitor', () => {
  it('goes agreeing → keys-agreed → media-protected → verified on honest evidence', () => {
    const m = new SecurityMonitor();
    expect(m.state).toBe('agreeing');
    const early = new SecurityMonitor();
    expect(early.media({ framesOpened: 10, authFailures: 0 })).toBeUndefined(); // no key yet: no claim
    expect(early.state).toBe('agreeing');
    expect(m.keysAgreed()).toBe('keys-agreed');
    expect(m.media({ framesOpened: 0, authFailures: 0 })).toBeUndefined();
    expect(m.media({ framesOpened: 3, authFailures: 0 })).toBe('media-protected');
    expect(m.confirm(true)).toBe('verified');
    expect(m.media({ framesOpened: 100, authFailures: 0 })).toBeUndefined();
  });

  it('keys-differ when frames fail authentication and none opens (a man in the middle)', () => {
    const m = new SecurityMonitor();
    m.keysAgreed();
    expect(m.media({ framesOpened: 0, authFailures: 4 })).toBeUndefined();
    expect(m.media({ framesOpened: 0, authFailures: 5 })).toBe('keys-differ');
    expect(m.confirm(true)).toBeUndefined(); // "they match" cannot undo the evidence
    expect(m.media({ framesOpened: 10, authFailures: 5 })).toBeUndefined();
    expect(m.state).toBe('keys-differ');
  });

  it('a person who confirmed too early is contradicted by the media', () => {
    const m = new SecurityMonitor();
    m.keysAgreed();
    expect(m.confirm(true)).toBe('verified');
    expect(m.media({ framesOpened: 0, authFailures: 20 })).toBe('keys-differ');
  });

  it('never claims media protection while authentication failures were seen', () => {
    const m = new SecurityMonitor();
    m.keysAgreed();
    expect(m.media({ framesOpened: 5, authFailures: 1 })).toBeUndefined();
    expect(m.state).toBe('keys-agreed');
  });

  it('confirm(false) is not a state and confirm before keys does nothing', () => {
    const m = new SecurityMonitor();
    expect(m.confirm(true)).toBeUndefined();
    m.keysAgreed();
    expect(m.confirm(false)).toBeUndefined();
    expect(m.state).toBe('keys-agreed');
  });

  it('property: media-protected and verified are only reached with a key; keys-differ only with failures and nothing opened', () => {
    const input = fc.oneof(
      fc.constant({ kind: 'keys' as const }),
      fc.record({ kind: fc.constant('media' as const), framesOpened: fc.nat(50), authFailures: fc.nat(50) }),
      fc.record({ kind: fc.constant('confirm' as const), match: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(input, { maxLength: 40 }), (inputs) => {
        const m = new SecurityMonitor();
        let keys = false;
        let maxOpened = 0;
        let maxFailures = 0;
        for (const i of inputs) {
          const before: SecurityState = m.state;
          if (i.kind === 'keys') {
            keys = true;
            m.keysAgreed();
          } else if (i.kind === 'media') {
            maxOpened = Math.max(maxOpened, i.framesOpened);
            maxFailures = Math.max(maxFailures, i.authFailures);
            m.media(i);
          } else m.confirm(i.match);
          expect(SECURITY_STATES).toContain(m.state);
          if (m.state !== 'agreeing') expect(keys).toBe(true);
          if (m.state === 'media-protected') expect(maxOpened > 0).toBe(true);
          if (m.state === 'keys-differ') expect(maxOpened === 0 || before === 'keys-differ').toBe(true);
          if (before === 'keys-differ') expect(m.state).toBe('keys-differ');
        }
      }),
    );
  });
});
