import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, test } from 'vitest'
import { compileAppLimits, RouteMemo } from '../../src/rate-limit/app-limits.js'
import { rawPath } from '../../src/adapters/request-route.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

// FINDING (low; memory, and a query string kept): RouteMemo keeps up to 256 paths of <= 256 characters, but a path
// cut from a longer string (rawPath()'s `url.slice(start, i)`, request-route.ts:30, for every Web-Request adapter) is
// a V8 sliced string that keeps its whole parent alive: the request URL with its query. So the memo holds up to 256
// whole URLs (query strings, which may carry tokens, included) until 256 other paths come, not 256 x 256 B. Bounded
// by the runtime's URL limit (16 KB in most: ~4 MB); here 64 KB URLs keep ~16 MB. Expected: the memo copies what it
// keeps (e.g. a flattened key) or keys by a hash. Input: 256 URLs `https://h/v1/p<i>?q=<64 KB>` through
// rawPath() then RouteMemo#of('POST', path). Observed: heap +16.2 MB after gc (control, paths copied flat: < 2 MB).
// Fixed: the memo keeps a copy of its own of each path (` ${path}`.slice(1): a flat string of the path's length).
describe('RouteMemo retention', () => {
  test('paths sliced from long URLs do not keep the URLs alive', () => {
    const groups = compileAppLimits([{ name: 'x', route: 'POST /v1/x', type: 'requests', unit: 'rpm', value: 1 }])!
    const memo = new RouteMemo(groups)
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 256; i++) {
      // Made at run time (no constant folding), flat.
      const url = `https://h/v1/path-number-${i}?q=${String(i).padStart(8, '0').repeat(8192)}`
      memo.of({ method: 'POST', path: rawPath(url) })
    }
    gc()
    const grown = process.memoryUsage().heapUsed - before
    expect(grown).toBeLessThan(2 * 1024 * 1024)
  })

  test('HELD (control): the same paths copied flat before the memo keep nothing of the URLs', () => {
    const groups = compileAppLimits([{ name: 'x', route: 'POST /v1/x', type: 'requests', unit: 'rpm', value: 1 }])!
    const memo = new RouteMemo(groups)
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 256; i++) {
      const url = `https://h/v1/path-number-${i}?q=${String(i).padStart(8, '0').repeat(8192)}`
      memo.of({ method: 'POST', path: [...rawPath(url)].join('') })
    }
    gc()
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(2 * 1024 * 1024)
  })
})
