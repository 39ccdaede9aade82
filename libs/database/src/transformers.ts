import type { ValueTransformer } from 'typeorm';

/**
 * pg returns BIGINT as a string to avoid precision loss. Amounts here are minor units well below
 * 2^53, so they are numbers in code; anything larger is refused rather than rounded.
 */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => {
    if (value === null) return null;
    const n = Number(value);
    if (!Number.isSafeInteger(n)) throw new Error(`BIGINT ${value} does not fit a JavaScript number`);
    return n;
  },
};
