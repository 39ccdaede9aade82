const NEEDS_ESCAPE = /["\\]/;

/**
 * A JS array as the PostgreSQL array literal node-postgres would send for it
 * (`{"a","b\"c",NULL,"5"}`), for arrays of strings, numbers, booleans and nulls; any other array
 * (dates, objects, nested arrays, buffers) is returned as it is, for node-postgres to encode.
 *
 * The batch statements pass every column as one array parameter (`unnest($1::uuid[], ...)`), and
 * node-postgres builds each literal by appending element after element and escaping each one with
 * two regular-expression replaces, which copy every string whether anything needed escaping or
 * not: a sixth of the stock service's allocations under load. Here an element is only copied when
 * it holds a quote or a backslash, and the literal is joined in one go.
 */
export function pgArray(values: readonly unknown[]): unknown {
  const parts = new Array<string>(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || v === undefined) parts[i] = 'NULL';
    else if (typeof v === 'string')
      parts[i] = NEEDS_ESCAPE.test(v) ? `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : `"${v}"`;
    else if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') parts[i] = `"${v}"`;
    else return values;
  }
  return `{${parts.join(',')}}`;
}

/** A statement's parameters with every array as pgArray encodes it; the rest as they are. */
export function encodeArrays(values: readonly unknown[]): unknown[] {
  return values.map((v) => (Array.isArray(v) ? pgArray(v) : v));
}
