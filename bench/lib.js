// @ts-check
// What the bench scripts share: the credentials and contenders every benchmark uses, statistics, formatting, tables.
import { execFileSync } from 'node:child_process'

export const log = (/** @type {string} */ line) => process.stderr.write(`${line}\n`)
export const PING = '/v1/ping'
export const ISSUER = 'https://auth.bench.portkey.test/'
export const AUDIENCE = 'https://api.portkey.bench'
export const KNOWN_KEY = 'pk-bench-known-0123456789abcdef0123'
/** A key the stub gives a requests limit no run reaches (10⁹ a week), as long as KNOWN_KEY: the same request bytes. */
export const LIMITED_KEY = 'pk-bench-limit-0123456789abcdef0123'
export const UNREACHED = /** @type {const} */ ({ type: 'requests', unit: 'rpw', value: 1_000_000_000 })
/**
 * The contenders: the row's name, bench/server.js's variant, the credential sent, and the contender it is measured
 * against when both run (its floor: one empty middleware sent the same bytes, or the same without the feature); the
 * cached API key also against the naive limit (bench/naive.js: SHA-256 and a Map in one middleware) when it runs.
 * @type {Record<string, [name: string, variant: string, credential: 'key' | 'jwt' | 'bearer' | 'limited', floor?: string, naive?: string]>}
 */
export const KINDS = {
  bare: ['bare', 'bare', 'key'],
  noise: ['bare, second copy (noise gauge)', 'bare', 'key'],
  floorKey: ['floor, API-key headers', 'noop', 'key'],
  floorJwt: ['floor, JWT headers', 'noop', 'jwt'],
  naive: ['naive limit: SHA-256 + Map, API key', 'naive', 'key', 'floorKey'],
  key: ['portkeyAuth, API key (warm)', 'portkey-key', 'key', 'floorKey', 'naive'],
  jwt: ['portkeyAuth, RS256 JWT (warm)', 'portkey-jwt', 'jwt', 'floorJwt'],
  auth0: ['express-oauth2-jwt-bearer, RS256 JWT', 'auth0', 'bearer'],
  keyTelemetry: ['portkeyAuth, API key (warm), telemetry on', 'portkey-key-otel', 'key', 'key'],
  keyLimited: ['portkeyAuth, API key (warm), limit not reached', 'portkey-limited', 'limited', 'key'],
  keyLimitedRedis: ['portkeyAuth, API key (warm), limit not reached, Redis', 'portkey-limited-redis', 'limited', 'key'],
}
/**
 * The contenders `kinds` on `framework` (the JWT `token`), each measured against its floor (and the naive limit) when
 * that runs too.
 * @returns {import('./load.js').Contender[]}
 */
export function contenders(/** @type {string} */ framework, /** @type {string[]} */ kinds, /** @type {string} */ token) {
  const keys = { key: KNOWN_KEY, jwt: token, limited: LIMITED_KEY, bearer: '' }
  const running = (/** @type {string} */ kind) => (kinds.includes(kind) ? KINDS[kind][0] : undefined)
  return kinds.map((kind) => {
    const [name, variant, credential, floor = '', naive = ''] = KINDS[kind]
    /** @type {Record<string, string>} */
    const headers = credential === 'bearer' ? { authorization: `Bearer ${token}` } : { 'x-portkey-api-key': keys[credential] }
    const [guarded, scenario] = [!['bare', 'noop'].includes(variant), `${framework}-${variant}`]
    return { name, scenario, headers, guarded, floor: running(floor), naive: running(naive) }
  })
}
/** The test issuer (its JWKS served by the stub) and a token of it valid for three hours. */
export async function benchToken() {
  const { createTestIssuer } = await import('portkey-auth/testing') // not loaded by every server that imports lib.js
  const issuer = await createTestIssuer('bench-key-1')
  const exp = Math.floor(Date.now() / 1000) + 3 * 3600
  const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'user_bench', exp, portkey_oid: 'org_bench', portkey_workspace: 'ws_bench' }
  return { issuer, token: await issuer.sign({ ...claims, scope: 'portkey.completions.write' }) }
}
/** A positive number from the environment variable `name`. */
export function setting(/** @type {string} */ name, /** @type {number} */ fallback) {
  const value = Number(process.env[name] ?? fallback)
  if (!(value > 0)) throw new TypeError(`${name} must be a positive number`)
  return value
}
/** The p-th percentile of an ascending array, interpolated between the nearest ranks; NaN when empty. */
export function percentile(/** @type {readonly number[]} */ sorted, /** @type {number} */ p) {
  const rank = (p / 100) * (sorted.length - 1)
  const [low, high] = [Math.floor(rank), Math.min(Math.floor(rank) + 1, sorted.length - 1)]
  return sorted.length === 0 ? NaN : sorted[low] + (sorted[high] - sorted[low]) * (rank - low)
}
/** Median of numbers in any order, nulls left out (CPU figures where /proc is missing). */
export function median(/** @type {readonly (number | null)[]} */ values) {
  const sorted = values.filter((x) => x !== null).sort((a, b) => a - b)
  return percentile(sorted, 50)
}
/** Median and range (NaN when empty). @typedef {ReturnType<typeof spread>} Spread */
export const spread = (/** @type {readonly number[]} */ values) => ({
  median: median(values),
  min: values.length > 0 ? Math.min(...values) : NaN,
  max: values.length > 0 ? Math.max(...values) : NaN,
})
/** Formats finite numbers with `format`, anything else (NaN, null, undefined) as '–'. */
const finite = (/** @type {(n: number) => string} */ format) => (/** @type {number | null | undefined} */ n) =>
  typeof n === 'number' && Number.isFinite(n) ? format(n) : '–'
export const fmtInt = finite((n) => Math.round(n).toLocaleString('en-US'))
export const fmtMs = finite((n) => `${n.toFixed(2)} ms`)
export const fmtRatio = finite((n) => `${n.toFixed(2)}×`)
export const fmtPct = finite((n) => `${Math.round(n * 100)}%`)
/** Microseconds with a sign (a difference). */
export const fmtUs = finite((n) => `${n < 0 ? '−' : '+'}${Math.abs(n).toFixed(2)} µs`)
export const fmtBytes = finite((n) => {
  const [unit, size] = Math.abs(n) < 1024 ? ['B', 1] : Math.abs(n) < 2 ** 20 ? ['KiB', 1024] : ['MiB', 2 ** 20]
  return size === 1 ? `${Math.round(n)} B` : `${(n / size).toFixed(1)} ${unit}`
})
/** Nanoseconds as ns or µs, three significant digits. */
export const fmtNs = finite((n) => (n < 1000 ? `${n.toPrecision(3)} ns` : `${(n / 1000).toPrecision(3)} µs`))
/** A median and its range. */
export const fmtSpread = (/** @type {ReturnType<typeof spread>} */ s, /** @type {(n: number) => string} */ format) =>
  `${format(s.median)} (${format(s.min)} to ${format(s.max)})`
/** A Markdown table from a header row and body rows. */
export function table(/** @type {readonly unknown[]} */ header, /** @type {readonly (readonly unknown[])[]} */ rows) {
  const widths = header.map((cell, i) => Math.max(String(cell).length, ...rows.map((row) => String(row[i] ?? '').length)))
  const line = (/** @type {readonly unknown[]} */ cells) =>
    `| ${widths.map((w, i) => String(cells[i] ?? '').padEnd(w)).join(' | ')} |`
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n')
}

/**
 * The commit measured, and whether src/ had changes not in it (a build measures the working tree): what BENCHMARKS.md
 * names, and what ties the instruction counts (bench/instructions.js) to the run that reports them.
 */
export function sourceOf(/** @type {string} */ root) {
  try {
    const git = (/** @type {string[]} */ ...args) => execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim()
    const dirty = git('status', '--porcelain', '--', 'src').split('\n').filter(Boolean).length
    return `commit ${git('rev-parse', '--short', 'HEAD')}${dirty > 0 ? ` with ${dirty} uncommitted change(s) in src/` : ', src/ clean'}`
  } catch {
    return 'unknown (no git)'
  }
}

/** Where bench/instructions.js leaves its tables for the next \`npm run bench\` to report (scenario 13). */
export const INSTRUCTIONS_FILE = '.bench-tmp/instructions.json'
