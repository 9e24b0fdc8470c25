import { execFile } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { build } from 'esbuild'
import { describe, expect, test } from 'vitest'
import { bundleWorker } from '../runtimes/bundle.js'

// Issue 23: what portkey-auth adds to a Worker. The smallest Worker on each edge entry
// (test/runtimes/fixtures/web-smallest.js, hono-smallest.js, Hono included), bundled from the built package as
// wrangler bundles with --minify (esbuild 0.27.3, ESM, es2022, conditions workerd/worker/browser), with no
// externals but cloudflare:* and no aliases: a node:* import fails the build. Sizes are gzipped at zlib's
// default level. Measured at the merge of 9e53f1f (no node: import on the edge paths): web 127,479 B minified,
// 45,272 B gzipped; Hono 147,970 / 53,405. The budgets sit a little above (46 KiB, 54 KiB) so that growth fails
// here; the aim for web is below 30 KiB (jose 21 KB and lru-cache 19 KB minified, the Redis fleet code 11 KB (out since issue 27) and
// telemetry 6.5 KB are in it today), and each budget comes down as the bundle does. Issue 27 took Redis out of the edge
// bundles (#fleet): web 44,184 B and Hono 52,989 B gzipped with its rate-limit features in; the budgets came down to
// 44 KiB and 53 KiB.
const KB = 1024

describe('bundle budget: the smallest Worker, minified and gzipped', () => {
  test.each([
    ['portkey-auth/web', 'web-smallest.js', 44 * KB],
    ['portkey-auth/hono', 'hono-smallest.js', 53 * KB],
  ])('%s (%s) builds with no node:* import, within %d bytes gzipped', async (_entry, fixture, budget) => {
    const bundle = await bundleWorker(fixture, { minify: true })
    // The build refuses a static node:* import (no externals); nor may one be left as import() or require().
    // process.getBuiltinModule('node:…') is allowed: it is no import, and answers undefined off Node.
    expect(bundle.code.match(/\b(?:import|require)\s*\(\s*["']node:[^"']*/g) ?? []).toEqual([])
    expect(bundle.gzipBytes, `${bundle.bytes} B minified, ${bundle.gzipBytes} B gzipped`).toBeLessThanOrEqual(budget)
  })
})

// Node-only code behind package.json "imports": the cache's key for a credential (src/credential/tag.ts: SipHash on
// Node, Bun and Deno; the fingerprint in the edge bundles), Hono's reading of Node's request under
// @hono/node-server (src/hono/node-request.ts) and Redis (src/fleet/connect.ts: the edge builds refuse `redis`). The edge conditions get their -edge module and none of that code.
// A bundle for browsers gets the fingerprint tag, but Hono's Node module: a Node server bundled with esbuild's default
// (browser) platform still hides the credential from Node's request.
describe.each([
  ['#credential-tag', 'dist/credential/tag.js', 'dist/credential/tag-edge.js', 'dist/platform/siphash.js', true],
  ['#hono-node-request', 'dist/hono/node-request.js', 'dist/hono/node-request-edge.js', undefined, false],
  ['#fleet', 'dist/fleet/connect.js', 'dist/fleet/connect-edge.js', 'dist/fleet/redis.js', false],
])('%s: which module each runtime gets', (specifier, node, edge, nodeOnly, browserIsEdge) => {
  const root = fileURLToPath(new URL('../../', import.meta.url))
  const resolved = async (conditions: string[], platform: 'browser' | 'node' = 'browser') => {
    const result = await build({
      platform,
      stdin: { contents: `export * from '${specifier}'`, resolveDir: root },
      bundle: true,
      write: false,
      format: 'esm',
      conditions,
      external: ['hono', 'hono/*'],
      metafile: true,
      logLevel: 'silent',
    })
    return Object.keys(result.metafile.inputs).filter((input) => input.startsWith('dist/'))
  }

  test("bundled for browsers (esbuild's default platform)", async () => {
    expect(await resolved([])).toContain(browserIsEdge ? edge : node)
  })

  test.each([[['workerd', 'worker', 'browser']], [['edge-light', 'worker', 'browser']]])(
    'bundled with %j: the edge module, no Node code',
    async (conditions) => {
      const inputs = await resolved(conditions)
      expect(inputs).toContain(edge)
      expect(inputs).not.toContain(node)
      if (nodeOnly !== undefined) expect(inputs).not.toContain(nodeOnly)
    },
  )

  test('Node (and a bundle for Node): the Node module', async () => {
    expect(await resolved([], 'node')).toContain(nodeOnly ?? node)
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', `console.log(import.meta.resolve('${specifier}'))`],
      { cwd: root },
    )
    expect(stdout.trim()).toBe(pathToFileURL(`${root}${node}`).href)
  })
})
