import { defineConfig, type TestProjectConfiguration } from 'vitest/config'

/** Browser tests written against test/browser/harness/driver.ts: they run in every engine. */
const ENGINE_TESTS = [
  'test/browser/core.test.ts',
  'test/browser/demo.test.ts',
  'test/browser/misuse.test.ts',
  'test/browser/lifecycle/**/*.test.ts',
  'test/browser/attacks/**/*.test.ts',
  'test/browser/fallback/**/*.test.ts',
]

/**
 * One project per engine (`chromium`, `firefox`, `webkit`), each running
 * ENGINE_TESTS with `ENGINE` set. They exist only when `ENGINES` is set
 * (`npm run test:engines`), so `npm test` stays on Chromium alone.
 */
const engine = (name: 'chromium' | 'firefox' | 'webkit'): TestProjectConfiguration => ({
  test: {
    name,
    include: ENGINE_TESTS,
    environment: 'node',
    env: { ENGINE: name },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    globalSetup: [
      'test/browser/harness/global-setup.ts',
      ...(name === 'webkit' ? ['test/browser/harness/driver-setup.ts'] : []),
    ],
  },
})
const engines = process.env.ENGINES ? [engine('chromium'), engine('firefox'), engine('webkit')] : []

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'jsdom',
          // Type-checking the consumer fixtures against zod's declarations and the
          // seeded fuzzers take 3-8 s of CPU on a loaded 2-core machine; a synchronous
          // test that overruns its timeout fails even though it passed (the strictest-flags
          // fixture measured 5.0-6.8 s here under load, over vitest's 5 s default).
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'types',
          include: ['test/types/**/*.test-d.ts'],
          typecheck: { enabled: true, only: true, include: ['test/types/**/*.test-d.ts'], tsconfig: './tsconfig.json' },
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'node',
          testTimeout: 30_000,
          hookTimeout: 60_000,
          globalSetup: ['test/browser/harness/global-setup.ts'],
        },
      },
      ...engines,
    ],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: { lines: 90 },
    },
  },
})
