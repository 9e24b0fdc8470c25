import { describe, expect, test } from 'vitest'
import { bundleWorker } from '../runtimes/bundle.js'

// Issue 23: what portkey-auth adds to a Worker. The smallest Worker on each edge entry
// (test/runtimes/fixtures/web-smallest.js, hono-smallest.js, Hono included), bundled from the built package as
// wrangler bundles with --minify (esbuild 0.27.3, ESM, es2022, conditions workerd/worker/browser), with no
// externals but cloudflare:* and no aliases: a node:* import fails the build. Sizes are gzipped at zlib's
// default level. Measured at the merge of 9e53f1f (no node: import on the edge paths): web 127,479 B minified,
// 45,272 B gzipped; Hono 147,970 / 53,405. The budgets sit a little above (46 KiB, 54 KiB) so that growth fails
// here; the aim for web is below 30 KiB (jose 21 KB and lru-cache 19 KB minified, the Redis fleet code 11 KB and
// telemetry 6.5 KB are in it today), and each budget comes down as the bundle does.
const KB = 1024

describe('bundle budget: the smallest Worker, minified and gzipped', () => {
  test.each([
    ['portkey-auth/web', 'web-smallest.js', 46 * KB],
    ['portkey-auth/hono', 'hono-smallest.js', 54 * KB],
  ])('%s (%s) builds with no node:* import, within %d bytes gzipped', async (_entry, fixture, budget) => {
    const bundle = await bundleWorker(fixture, { minify: true })
    // The build refuses a static node:* import (no externals); nor may one be left as import() or require().
    // process.getBuiltinModule('node:…') is allowed: it is no import, and answers undefined off Node.
    expect(bundle.code.match(/\b(?:import|require)\s*\(\s*["']node:[^"']*/g) ?? []).toEqual([])
    expect(bundle.gzipBytes, `${bundle.bytes} B minified, ${bundle.gzipBytes} B gzipped`).toBeLessThanOrEqual(budget)
  })
})
