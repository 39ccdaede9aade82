// The short chaos run (e2e tier) starts its own Kafka broker and PostgreSQL cluster, so it does
// without the shared test infrastructure the preset's global setup would start.
const tier = process.env.TEST_TIER ?? 'unit';
const {
  globalSetup: _setup,
  globalTeardown: _teardown,
  ...config
} = require('../../jest.preset.cjs').jestConfig(__dirname, tier);
module.exports = config;
