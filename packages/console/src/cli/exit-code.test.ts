import { HvctlError, failedPrecondition, invalidArgument } from '@hvctl/common';
import { describe, expect, it } from 'vitest';
import { exitCodeForError } from './exit-code.js';

describe('exitCodeForError', () => {
  it('maps invalid input to 2, a refused precondition to 3 and anything else to 1', () => {
    expect(exitCodeForError(invalidArgument('--vms must be a number'))).toBe(2);
    expect(exitCodeForError(failedPrecondition('`hvctl lab up --netns` needs root'))).toBe(3);
    expect(exitCodeForError(new HvctlError('PERMISSION_DENIED', 'needs role admin'))).toBe(1);
    expect(exitCodeForError(new HvctlError('UNAVAILABLE', 'msk-1 is not reachable'))).toBe(1);
    expect(exitCodeForError(new Error('bug'))).toBe(1);
  });
});
