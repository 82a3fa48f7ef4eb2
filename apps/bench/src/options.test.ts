import { describe, expect, it } from 'vitest';
import { BROWSER_DEFAULT_SIZES, DEFAULT_SECONDS, DEFAULT_SIZES, parseOptions } from './options.js';

describe('parseOptions', () => {
  it('has the defaults of the issue', () => {
    expect(parseOptions([])).toEqual({
      help: false,
      json: false,
      native: true,
      sizes: [...DEFAULT_SIZES],
      seconds: DEFAULT_SECONDS,
      repeats: 3,
      backend: undefined,
      browser: false,
      browsers: ['chromium', 'firefox'],
    });
    expect(DEFAULT_SIZES).toEqual([64, 160, 1200, 4096, 65536]);
  });
  it('reads every option', () => {
    expect(parseOptions(['--json', '--sizes', '1200,160', '--seconds', '0.3', '--repeats', '7', '--backend', 'noble', '--no-native'])).toEqual({
      help: false,
      json: true,
      native: false,
      sizes: [160, 1200],
      seconds: 0.3,
      repeats: 7,
      backend: 'noble',
      browser: false,
      browsers: ['chromium', 'firefox'],
    });
    expect(parseOptions(['-h']).help).toBe(true);
  });
  it('has its own default sizes with --browser, and honours --sizes and --seconds there', () => {
    expect(BROWSER_DEFAULT_SIZES).toEqual([160, 1200, 4096, 65536]);
    expect(parseOptions(['--browser'])).toMatchObject({ browser: true, sizes: [...BROWSER_DEFAULT_SIZES], seconds: DEFAULT_SECONDS });
    expect(parseOptions(['--browser', '--json', '--sizes', '4096,160', '--seconds', '0.2'])).toMatchObject({
      browser: true,
      json: true,
      sizes: [160, 4096],
      seconds: 0.2,
    });
    expect(() => parseOptions(['--browser', '--backend', 'node'])).toThrow(/--backend does not apply to --browser/);
  });
  it('measures Chromium then Firefox ESR, or the browsers --browsers names (which implies --browser)', () => {
    expect(parseOptions(['--browser']).browsers).toEqual(['chromium', 'firefox']);
    expect(parseOptions(['--browsers', 'firefox'])).toMatchObject({ browser: true, browsers: ['firefox'] });
    expect(parseOptions(['--browsers', 'firefox,chromium']).browsers).toEqual(['chromium', 'firefox']);
    expect(() => parseOptions(['--browsers', 'safari'])).toThrow(/unknown browser "safari"/);
    expect(() => parseOptions(['--browsers', ','])).toThrow(/empty list/);
  });
  it('rejects bad input', () => {
    expect(() => parseOptions(['--sizes', '0'])).toThrow(/--sizes/);
    expect(() => parseOptions(['--sizes', '1.5'])).toThrow(/--sizes/);
    expect(() => parseOptions(['--seconds', 'x'])).toThrow(/--seconds/);
    expect(() => parseOptions(['--repeats', '0'])).toThrow(/--repeats/);
    expect(() => parseOptions(['--frobnicate'])).toThrow();
  });
});
