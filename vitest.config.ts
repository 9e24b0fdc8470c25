import { configDefaults, defineConfig } from 'vitest/config'

// The adapter suites run once against each supported major of Express, Koa and Fastify: the current ones
// (express@5, koa@3, fastify@5) and, through npm aliases, the previous ones (express4 = express@4,
// koa2 = koa@2, fastify4 = fastify@4). Hono has one supported major.
const ADAPTER_SUITES = [
  'test/express/**/*.test.ts',
  'test/koa/**/*.test.ts',
  'test/fastify/**/*.test.ts',
  'test/adapters/**/*.test.ts',
  'test/clients/**/*.test.ts',
  'test/security/**/*.test.ts',
]

export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    testTimeout: 15_000,
    hookTimeout: 15_000,
    // Records every test worker's output and fails a file that prints a credential.
    setupFiles: ['./test/support/secrets-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'express5-koa3',
          include: ['test/**/*.test.ts'],
          // The edge runtimes' suite needs runtimes that are not devDependencies: .ci/run runs it (its own config).
          exclude: [...configDefaults.exclude, 'test/runtimes/**'],
          env: { EXPRESS_MAJOR: '5', KOA_MAJOR: '3', FASTIFY_MAJOR: '5' },
        },
      },
      {
        extends: true,
        test: {
          name: 'express4-koa2',
          include: ADAPTER_SUITES,
          // @fastify/auth 5 refuses Fastify 4 (FST_ERR_PLUGIN_VERSION_MISMATCH): its composition runs on Fastify 5 only.
          exclude: ['test/fastify/auth-composition.test.ts', 'test/fastify/verify-portkey*.attack.test.ts'],
          // Hono and Web have one supported major, which the first project runs: here only the aliased three.
          env: { EXPRESS_MAJOR: '4', KOA_MAJOR: '2', FASTIFY_MAJOR: '4', ADAPTERS: 'express,koa,fastify' },
        },
        resolve: { alias: { express: 'express4', koa: 'koa2', fastify: 'fastify4' } },
      },
    ],
  },
})
