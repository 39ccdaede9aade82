// Adds up the Jest result files of one `./dev test` run and prints one closing line:
// "tests: N passed, N failed" (plus skipped), so a run is judged by its count, not only its exit code.
const fs = require('node:fs');
const path = require('node:path');

const dir = process.argv[2] ?? 'tmp/test-results';
let passed = 0,
  failed = 0,
  skipped = 0,
  suites = 0,
  failedSuites = 0;
const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : [];
for (const f of files) {
  const r = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
  skipped += r.numPendingTests + (r.numTodoTests ?? 0);
  suites += r.numTotalTestSuites;
  failedSuites += r.numFailedTestSuites + (r.numRuntimeErrorTestSuites ?? 0);
}
console.log(`test files: ${suites} (${failedSuites} failed), from ${files.length} Jest runs`);
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
