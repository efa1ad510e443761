/** Redis Sentinel and Redis Cluster on loopback (npm run test:ha): real failovers and a resharding, one suite at a time. */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['<rootDir>/test/ha/**/*.test.ts'],
  testTimeout: 120000,
  maxWorkers: 1,
};
