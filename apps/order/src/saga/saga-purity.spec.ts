import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/*
 * The saga is the order service's rules and nothing else: it imports its own files and the
 * message types of @tcc/contracts (as types only), never a database, Kafka, Nest or the clock.
 */
describe('the saga folder', () => {
  const sources = readdirSync(__dirname).filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'));

  it.each(sources)('%s imports only saga files and contract types', (file) => {
    const text = readFileSync(join(__dirname, file), 'utf8');
    const imports = [...text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)].map((m) => ({
      typeOnly: Boolean(m[2]),
      from: m[3] ?? '',
    }));
    const outside = imports.filter(
      (i) => !i.from.startsWith('./') && !(i.from === '@tcc/contracts' && i.typeOnly),
    );
    expect(outside).toEqual([]);
    expect(text).not.toMatch(/Date\.now\(|new Date\(\)/);
  });
});
