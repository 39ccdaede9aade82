module.exports = require('../../jest.preset.cjs').jestConfig(__dirname, process.env.TEST_TIER ?? 'unit');
