// @ts-check
// Scenario 5, the core micro-benchmark, in a process of its own: `node bench/micro.js` prints one JSON line
// { results: [{ name, p50, avg, p99 }] } in ns per operation (mitata). Every measured verify() is a cache hit.
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { bench, do_not_optimize, run } from 'mitata'
import { createVerifier } from 'portkey-auth'
import { keyRecord } from 'portkey-auth/testing'
// Internals: what the verifier runs on every request before the cache read, and the hash that keys the cache.
import { fingerprint, takeCredential } from '../dist/credential/header.js'
import { AUDIENCE, benchToken, ISSUER, KNOWN_KEY } from './lib.js'

process.on('disconnect', () => process.exit(0))
const { issuer, token } = await benchToken()
const record = keyRecord({ id: 'key_bench', organisation_id: 'org_bench', workspace_id: 'ws_bench' })
/** @type {import('portkey-auth').KeyLookup} No network: after the first call, every verify() below is a cache hit. */
const lookup = async (key) => (key === KNOWN_KEY ? record : null)
const verifier = createVerifier({ lookup, jwt: { jwks: issuer.jwks, issuer: ISSUER, audience: AUDIENCE } })
// Issue 17: the same with telemetry on, into OpenTelemetry's SDK (a reader that collects only when asked).
const reader = new (class extends MetricReader {
  onShutdown = async () => {}
  onForceFlush = async () => {}
})()
const withTelemetry = createVerifier({ lookup, telemetry: { meterProvider: new MeterProvider({ readers: [reader] }) } })
// Headers as Node hands them to a middleware (lower-case names, string values).
const base = { host: '127.0.0.1:3000', 'user-agent': 'bench', accept: '*/*', connection: 'keep-alive' }
const [keyHeaders, jwtHeaders] = [
  { ...base, 'x-portkey-api-key': KNOWN_KEY },
  { ...base, 'x-portkey-api-key': token },
]
// Both entries warm and admitted, so that a broken setup cannot pass as a fast one.
for (const headers of [keyHeaders, jwtHeaders])
  if ((await verifier.verify(headers)).organisationId !== 'org_bench') throw new Error('micro: warm-up verify() did not admit')
await withTelemetry.verify(keyHeaders)
// Issue 27: the cost of each rate-limit feature on the cached path, each against the same key without limits, with
// a status as the adapters pass (so a limited key's quota is made). Limits no run reaches: 10⁹ requests a week.
const LIMITED = 'pk-bench-micro-limit-0123456789abcd'
const never = { type: 'requests', unit: 'rpw', value: 1e9 }
const limitedRecord = keyRecord({ ...record, id: 'key_bench_limited', rate_limits: [/** @type {any} */ (never)] })
/** @type {import('portkey-auth').KeyLookup} */
const lookupLimited = async (key) => (key === KNOWN_KEY ? record : key === LIMITED ? limitedRecord : null)
const limitedHeaders = { ...base, 'x-portkey-api-key': LIMITED }
const route = { method: 'POST', path: '/v1/chat/completions' }
/** @type {Record<string, import('portkey-auth').Verifier>} */
const limiters = {
  record: createVerifier({ logger: false, lookup: lookupLimited }),
  shadow: createVerifier({ logger: false, lookup: lookupLimited, rateLimits: { mode: 'shadow' } }),
  sliding: createVerifier({ logger: false, lookup: lookupLimited, rateLimits: { window: 'sliding' } }),
  app: createVerifier({
    logger: false,
    lookup: lookupLimited,
    rateLimits: { limits: [{ name: 'default', type: 'requests', unit: 'rpw', value: 1e9 }] },
  }),
  route: createVerifier({
    lookup: lookupLimited,
    rateLimits: { limits: [{ name: 'chat', route: 'POST /v1/chat/completions', type: 'requests', unit: 'rpw', value: 1e9 }] },
  }),
}
for (const [name, limiter] of Object.entries(limiters)) {
  const headers = name === 'record' || name === 'shadow' || name === 'sliding' ? limitedHeaders : keyHeaders
  const status = /** @type {import('portkey-auth').CheckStatus} */ ({ cache: 'none' })
  await limiter.verify(headers, route, status)
  if (status.quota == null) throw new Error(`micro: the ${name} limit did not apply`)
}
// Two seconds of every measured check() first: the process's first seconds (JIT tiers compiled on the other core,
// the heap growing) otherwise fell on the first benchmarks, the first row measuring 1.5–2.5× its steady median.
const warm = [
  () => verifier.check(keyHeaders, route, { cache: 'none' }),
  ...Object.entries(limiters).map(([name, limiter]) => {
    const headers = name === 'record' || name === 'shadow' || name === 'sliding' ? limitedHeaders : keyHeaders
    return () => limiter.check(headers, route, { cache: 'none' })
  }),
]
for (const until = Date.now() + 2_000; Date.now() < until; ) for (const check of warm) for (let i = 0; i < 100; i++) check()
const before = verifier.stats()
bench('check() cache hit, API key, with a status (issue 27: no limit)', () =>
  do_not_optimize(verifier.check(keyHeaders, route, { cache: 'none' })),
)
bench("check() cache hit, API key, with a status (issue 27: the record's limit)", () =>
  do_not_optimize(limiters.record.check(limitedHeaders, route, { cache: 'none' })),
)
bench("check() cache hit, API key, with a status (issue 27: the record's limit, shadow mode)", () =>
  do_not_optimize(limiters.shadow.check(limitedHeaders, route, { cache: 'none' })),
)
bench("check() cache hit, API key, with a status (issue 27: the record's limit, sliding window)", () =>
  do_not_optimize(limiters.sliding.check(limitedHeaders, route, { cache: 'none' })),
)
bench("check() cache hit, API key, with a status (issue 27: the app's default limit)", () =>
  do_not_optimize(limiters.app.check(keyHeaders, route, { cache: 'none' })),
)
bench("check() cache hit, API key, with a status (issue 27: the app's limit on the route)", () =>
  do_not_optimize(limiters.route.check(keyHeaders, route, { cache: 'none' })),
)
bench('verify() cache hit, API key', () => verifier.verify(keyHeaders))
bench('verify() cache hit, JWT', () => verifier.verify(jwtHeaders))
bench('check() cache hit, API key (what the adapters call)', () => do_not_optimize(verifier.check(keyHeaders)))
bench('check() cache hit, API key, telemetry on', () => do_not_optimize(withTelemetry.check(keyHeaders)))
bench(`fingerprint() of the API key (${KNOWN_KEY.length} B)`, () => do_not_optimize(fingerprint(KNOWN_KEY)))
bench(`fingerprint() of the JWT (${token.length} B)`, () => do_not_optimize(fingerprint(token)))
bench('takeCredential() of the API key headers', () => do_not_optimize(takeCredential(keyHeaders)))
bench('takeCredential() of the JWT headers', () => do_not_optimize(takeCredential(jwtHeaders)))
const resolved = Object.freeze({ ok: true })
bench('reference: async function returning a value', async () => resolved)
const { benchmarks } = await run({ format: 'quiet', throw: true })
const after = verifier.stats()
if (after.lookups !== before.lookups || after.misses !== before.misses)
  throw new Error('micro: a measured verify() was not a hit')
// The telemetry verifier's decisions were all counted: the tally is what is measured.
const metrics = (await reader.collect()).resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)
const points = metrics.filter((m) => m.descriptor.name === 'portkey_auth.decisions').flatMap((m) => Object(m.dataPoints))
const [counted, made] = [
  points.reduce((n, p) => n + Number(p.value), 0),
  withTelemetry.stats().hits + withTelemetry.stats().misses,
]
if (counted !== made) throw new Error(`micro: telemetry counted ${counted} decisions, the verifier made ${made}`)
const results = benchmarks.map(({ runs: [{ stats, name }] }) => ({ name, p50: stats?.p50, avg: stats?.avg, p99: stats?.p99 }))
process.stdout.write(`${JSON.stringify({ results })}\n`)
process.exit(0)
