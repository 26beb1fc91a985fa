import { useEffect, useState } from 'react';

/**
 * The current time from `now`, refreshed every `intervalMs` (1 s: the "unreachable for
 * N s" counters). Render code reads this value instead of calling the clock itself.
 */
export function useNow(now: () => number, intervalMs = 1000): number {
  const [value, setValue] = useState(now);
  useEffect(() => {
    const timer = setInterval(() => setValue(now()), intervalMs);
    return () => clearInterval(timer);
  }, [now, intervalMs]);
  return value;
}
