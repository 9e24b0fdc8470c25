import { fileURLToPath } from 'node:url'
import { configDefaults, defineConfig, type Plugin } from 'vitest/config'

// `npm test` runs every project; `npm run test:unit` (or `vitest run --project unit`) the fast part alone, with no
// build. Each test file belongs to exactly one of unit, adapters and integration; adapters-previous runs the adapter
// suites again on the previous framework majors. The projects that open sockets keep vitest's default pool (a fresh
// fork per file, as many workers as cores less one: one on two cores), as the whole suite had before.

// Files that open no socket, start no server, child process or Redis, and read no build output (dist/): pure
// functions, options, the cache and the verifier with a fake look-up, property tests. Listed by name: a new file
// goes to integration until it is added here.
const UNIT = [
  'test/{errors,network-error}.test.ts',
  'test/cache/refreshing-cache.test.ts',
  'test/credential/{bearer,claims,header,key-record,shared-parts,tag}.test.ts',
  'test/docs/links.test.ts',
  'test/fleet/{connect-edge,routing}.test.ts',
  'test/lookup/{guard,loaders}.test.ts',
  'test/options/{bearer,names,redis,redis-client-types,resolve}.test.ts',
  'test/permissions/{paths,route-scopes}.test.ts',
  'test/platform/{sha256,siphash,timers.attack}.test.ts',
  'test/rate-limit/{fleet-counter,parse}.test.ts',
  'test/property/parsing.property.test.ts',
  'test/telemetry/decisions.test.ts',
  'test/testing/stub-records.test.ts',
  'test/verifier/{decision,pipeline,revoke,startup-line}.test.ts',
  'test/virtual-key/{revocation-alias,virtual-key}.test.ts',
]

// The adapter suites: real apps of each framework over HTTP, against the control-plane stub. They run once against
// each supported major of Express, Koa and Fastify: the current ones (express@5, koa@3, fastify@5) and, through npm
// aliases, the previous ones (express4 = express@4, koa2 = koa@2, fastify4 = fastify@4). Hono and the Web adapter
// have one supported major.
const ADAPTER_SUITES = [
  'test/express/**/*.test.ts',
  'test/koa/**/*.test.ts',
  'test/fastify/**/*.test.ts',
  'test/adapters/**/*.test.ts',
  'test/clients/**/*.test.ts',
  'test/security/**/*.test.ts',
]
const SINGLE_MAJOR_SUITES = ['test/hono/**/*.test.ts', 'test/web/**/*.test.ts']

// The edge runtimes' suite needs runtimes that are not devDependencies: .ci/run runs it (its own config).
const EXCLUDE = [...configDefaults.exclude, 'test/runtimes/**']

// The sources import '#credential-tag', '#fleet' and '#hono-node-request', which package.json "imports" maps to dist/ for each
// runtime: tests of the sources get the source of the Node one (its "types" condition, which TypeScript reads).
// Built code resolves as installed.
const SOURCES = fileURLToPath(new URL('./src/', import.meta.url))
const nodeImportsSource: Plugin = {
  name: 'node-imports-source',
  enforce: 'pre',
  resolveId(id, importer) {
    if (!importer?.startsWith(SOURCES)) return
    if (id === '#credential-tag') return `${SOURCES}credential/tag.ts`
    if (id === '#hono-node-request') return `${SOURCES}hono/node-request.ts`
    if (id === '#fleet') return `${SOURCES}fleet/connect.ts`
  },
}

export default defineConfig({
  plugins: [nodeImportsSource],
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
          name: 'unit',
          include: UNIT,
          exclude: EXCLUDE,
          // No file here leaves a server, a process or a module-level setting behind (fake timers and stubbed env
          // are restored after each test), so they share a worker thread and its loaded modules: about half the
          // time of a fresh fork per file. As many workers as the other projects (two made the few wall-clock
          // budgets here, e.g. guard.test's retry, miss on a loaded two-core machine). Run first (groupOrder), for a
          // quick answer.
          pool: 'threads',
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'adapters',
          sequence: { groupOrder: 1 },
          include: [...ADAPTER_SUITES, ...SINGLE_MAJOR_SUITES],
          exclude: EXCLUDE,
          env: { EXPRESS_MAJOR: '5', KOA_MAJOR: '3', FASTIFY_MAJOR: '5' },
        },
      },
      {
        extends: true,
        test: {
          name: 'adapters-previous',
          sequence: { groupOrder: 1 },
          include: ADAPTER_SUITES,
          exclude: [
            ...EXCLUDE,
            // @fastify/auth 5 refuses Fastify 4 (FST_ERR_PLUGIN_VERSION_MISMATCH): its composition runs on Fastify 5 only.
            'test/fastify/auth-composition.test.ts',
            'test/fastify/verify-portkey*.attack.test.ts',
          ],
          // Hono and Web have one supported major, which the adapters project runs: here only the aliased three.
          env: { EXPRESS_MAJOR: '4', KOA_MAJOR: '2', FASTIFY_MAJOR: '4', ADAPTERS: 'express,koa,fastify' },
        },
        resolve: { alias: { express: 'express4', koa: 'koa2', fastify: 'fastify4' } },
      },
      {
        extends: true,
        test: {
          // Everything else: Redis (standalone, cluster, Sentinel), child processes (the stub command, the examples,
          // the docs' snippets: test/docs/** but the link check, which is unit), packaging, the verifier and the
          // look-up against the stub or a raw server, the load and attack suites that go through an app.
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/**/*.test.ts'],
          exclude: [...EXCLUDE, ...UNIT, ...ADAPTER_SUITES, ...SINGLE_MAJOR_SUITES],
        },
      },
    ],
  },
})
