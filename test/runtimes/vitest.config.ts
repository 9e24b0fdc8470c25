import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// The edge-runtime suite (issue 23): `node node_modules/vitest/vitest.mjs run --config test/runtimes/vitest.config.ts`
// with RUNTIMES_PREFIX naming where miniflare, edge-runtime, deno and bun are installed (.ci/run does this).
// Not part of `npm test`: the runtimes are not devDependencies.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/runtimes/**/*.test.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    setupFiles: ['./test/support/secrets-setup.ts'],
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
})
