import { describe, expect, it } from 'vitest';
import { HvctlError } from '@hvctl/common';
import { DEFAULT_NETNS_TOOLS, requireNetnsPrerequisites } from './network.js';

describe('lab up --netns prerequisites', () => {
  it('refuses a non-root user, saying nothing was created and what to do', () => {
    // Given uid 1000; When the prerequisites are checked
    let error: unknown;
    try {
      requireNetnsPrerequisites(DEFAULT_NETNS_TOOLS, 1000);
    } catch (caught) {
      error = caught;
    }
    // Then a FAILED_PRECONDITION error (exit 3) explains why and offers sudo or the simulated lab
    expect(error).toBeInstanceOf(HvctlError);
    const refused = error as HvctlError;
    expect(refused.code).toBe('FAILED_PRECONDITION');
    expect(refused.describe()).toMatch(/needs root/);
    expect(refused.describe()).toMatch(/Unchanged: nothing was created/);
    expect(refused.describe()).toMatch(/Next: run it as root: sudo npx hvctl lab up --netns/);
    expect(refused.describe()).toMatch(/without --netns/);
  });

  it('refuses when BIRD is missing, naming the package', () => {
    expect(() => requireNetnsPrerequisites({ ...DEFAULT_NETNS_TOOLS, bird: '/nonexistent/bird' }, 0)).toThrow(/needs bird at \/nonexistent\/bird/);
    const missingIp = ((): HvctlError | undefined => {
      try {
        requireNetnsPrerequisites({ ...DEFAULT_NETNS_TOOLS, ip: '/nonexistent/ip' }, 0);
        return undefined;
      } catch (error) {
        return error as HvctlError;
      }
    })();
    expect(missingIp?.code).toBe('FAILED_PRECONDITION');
    expect(missingIp?.describe()).toMatch(/apt install iproute2/);
  });
});
