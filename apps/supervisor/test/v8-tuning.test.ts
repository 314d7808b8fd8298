// The app's V8 settings: allocation-site pretenuring goes off unless Node's command line
// (its arguments or NODE_OPTIONS) names the flag, either way.
import { describe, expect, it } from 'vitest';
import { choosesPretenuring, tuneV8 } from '../src/v8-tuning.js';

describe('choosesPretenuring', () => {
  it('is false when neither the arguments nor NODE_OPTIONS name the flag', () => {
    expect(choosesPretenuring([], undefined)).toBe(false);
    expect(choosesPretenuring(['--enable-source-maps'], '--conditions=@troupe/source')).toBe(false);
    // A flag that merely contains the words is not the flag.
    expect(choosesPretenuring(['--trace-pretenuring'], '')).toBe(false);
  });

  it('is true when the arguments name it, on or off, with dashes or underscores', () => {
    expect(choosesPretenuring(['--allocation-site-pretenuring'], undefined)).toBe(true);
    expect(choosesPretenuring(['--no-allocation-site-pretenuring'], undefined)).toBe(true);
    expect(choosesPretenuring(['--no-allocation_site_pretenuring'], undefined)).toBe(true);
  });

  it('is true when NODE_OPTIONS names it among other options', () => {
    expect(choosesPretenuring([], '--max-old-space-size=512  --allocation-site-pretenuring')).toBe(
      true,
    );
  });
});

describe('tuneV8', () => {
  it('leaves a command-line choice alone and says so', () => {
    expect(tuneV8(['--allocation-site-pretenuring'], undefined)).toEqual({
      allocationSitePretenuring: 'as the command line chose',
    });
  });

  it('turns pretenuring off otherwise', () => {
    expect(tuneV8([], '')).toEqual({ allocationSitePretenuring: 'off' });
  });
});
