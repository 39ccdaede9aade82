// Test tiers by file suffix, each its own Nx target (see STYLE.md):
//   unit  *.spec.ts       no infrastructure
//   int   *.int.spec.ts   real PostgreSQL and Kafka
//   e2e   *.e2e.spec.ts   the three services running against real PostgreSQL and Kafka
// A tier never matches another tier's files.
const path = require('node:path');

const swc = [
  '@swc/jest',
  {
    jsc: {
      target: 'es2023',
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

const tiers = {
  unit: { match: ['**/*.spec.ts'], ignore: ['\\.int\\.spec\\.ts$', '\\.e2e\\.spec\\.ts$'], timeout: 10_000 },
  int: { match: ['**/*.int.spec.ts'], ignore: [], timeout: 120_000 },
  e2e: { match: ['**/*.e2e.spec.ts'], ignore: [], timeout: 300_000 },
};

/** @param {string} projectDir @param {keyof typeof tiers} tier */
function jestConfig(projectDir, tier) {
  const t = tiers[tier];
  if (!t) throw new Error(`unknown test tier "${tier}" (expected ${Object.keys(tiers).join(', ')})`);
  const infra =
    tier === 'unit'
      ? {}
      : {
          globalSetup: path.join(__dirname, 'libs/testing/jest/global-setup.ts'),
          globalTeardown: path.join(__dirname, 'libs/testing/jest/global-teardown.ts'),
          setupFiles: [path.join(__dirname, 'libs/testing/jest/quiet-logs.ts')],
        };
  return {
    displayName: `${path.basename(projectDir)}:${tier}`,
    rootDir: projectDir,
    testEnvironment: 'node',
    // resolve workspace libs to their TypeScript sources (package.json "exports" condition)
    testEnvironmentOptions: { customExportConditions: ['@tcc/source', 'node', 'require', 'default'] },
    transform: { '^.+\\.ts$': swc },
    moduleFileExtensions: ['ts', 'js', 'json'],
    testMatch: t.match,
    testPathIgnorePatterns: ['/node_modules/', '/dist/', ...t.ignore],
    testTimeout: t.timeout,
    ...infra,
    ...(tier === 'unit' ? {} : { maxWorkers: 1 }),
  };
}

module.exports = { jestConfig };
