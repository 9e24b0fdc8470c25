import { describe, expect, test } from 'vitest'
import { bundleWorker } from '../runtimes/bundle.js'

// Issue 23: what portkey-auth adds to a Worker. The smallest Worker on each edge entry
// (test/runtimes/fixtures/web-smallest.js, hono-smallest.js, Hono included), bundled from the built package as
// wrangler bundles with --minify (esbuild 0.27.3, ESM, es2022, conditions workerd/worker/browser), with no
// externals but cloudflare:* and no aliases: a node:* import fails the build. Sizes are gzipped at zlib's
// default level; the budgets sit a little above what was measured (the numbers in each test's name).
const KB = 1024

describe('bundle budget: the smallest Worker, minified and gzipped', () => {
  test.each([
    ['portkey-auth/web', 'web-smallest.js', 30 * KB],
    ['portkey-auth/hono', 'hono-smallest.js', 40 * KB],
  ])('%s (%s) builds with no node:* import, within %d bytes gzipped', async (_entry, fixture, budget) => {
    const bundle = await bundleWorker(fixture, { minify: true })
    expect(bundle.code).not.toMatch(/\bnode:[a-z]/)
    expect(bundle.gzipBytes, `${bundle.bytes} B minified, ${bundle.gzipBytes} B gzipped`).toBeLessThanOrEqual(budget)
  })
})
