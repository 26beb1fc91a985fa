import { ToolError, failedPrecondition, unavailable } from '@hvctl/common';
import { describe, expect, it } from 'vitest';
import type { Area, Drivers } from '../drivers/types.js';
import { meansToolUnavailable, reportUnavailableTools } from './failure-report.js';

const toolError = (failure: 'missing' | 'exit', code: 'UNAVAILABLE' | 'INTERNAL'): ToolError =>
  new ToolError({ failure, code, message: `tool ${failure}`, command: '/usr/sbin/drbdadm', args: [], exitCode: failure === 'exit' ? 1 : null, signal: null, stderr: '' });

describe('meansToolUnavailable', () => {
  it('is true for a missing tool and for UNAVAILABLE, also as a cause', () => {
    const wrapped = failedPrecondition('cannot promote r0');
    Object.defineProperty(wrapped, 'cause', { value: toolError('missing', 'UNAVAILABLE') });
    expect(meansToolUnavailable(toolError('missing', 'UNAVAILABLE'))).toBe(true);
    expect(meansToolUnavailable(unavailable('BIRD is not reachable'))).toBe(true);
    expect(meansToolUnavailable(wrapped)).toBe(true);
  });

  it('is false for a refused operation or a tool that ran and failed', () => {
    expect(meansToolUnavailable(failedPrecondition('r0 is not UpToDate'))).toBe(false);
    expect(meansToolUnavailable(toolError('exit', 'INTERNAL'))).toBe(false);
    expect(meansToolUnavailable(new Error('x'))).toBe(false);
  });
});

describe('reportUnavailableTools', () => {
  function drivers(error: unknown): Drivers {
    const failing = { probe: () => Promise.reject(error), list: () => Promise.reject(error), facts: () => Promise.reject(error) };
    const ok = { probe: () => Promise.resolve({ available: true, driver: 'real', detail: '' }), list: () => Promise.resolve(['r0']) };
    return { drbd: failing, kvm: ok, routing: ok, backup: ok, host: failing } as unknown as Drivers;
  }

  it('reports the area of a call that failed as unavailable, and still passes the error to the caller', async () => {
    const reported: Area[] = [];
    const error = toolError('missing', 'UNAVAILABLE');
    const wrapped = reportUnavailableTools(drivers(error), (area) => reported.push(area));
    await expect(wrapped.drbd.list()).rejects.toBe(error);
    expect(await wrapped.kvm.list()).toEqual(['r0']);
    await Promise.resolve();
    expect(reported).toEqual(['drbd']);
  });

  it('does not report probes, nor failures that are not about the tool', async () => {
    const reported: Area[] = [];
    await expect(reportUnavailableTools(drivers(toolError('missing', 'UNAVAILABLE')), (area) => reported.push(area)).drbd.probe()).rejects.toBeInstanceOf(ToolError);
    await expect(reportUnavailableTools(drivers(failedPrecondition('no')), (area) => reported.push(area)).drbd.list()).rejects.toThrow('no');
    await Promise.resolve();
    expect(reported).toEqual([]);
  });
});
