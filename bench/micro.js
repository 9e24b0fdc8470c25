// @ts-check
// Scenario 5, the core micro-benchmark, in a process of its own: `node bench/micro.js` prints one JSON
// line { results: [{ name, p50, avg, p99, samples }], hits } with times in ns per operation (mitata).
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics'
import { bench, do_not_optimize, run } from 'mitata'
import { createVerifier } from 'portkey-auth'
import { createTestIssuer, keyRecord } from 'portkey-auth/testing'
// Internals the public API does not export: what the verifier runs on every request before the cache
// read (takeCredential: presence, one value, size) and the hash that keys the cache.
import { fingerprint, takeCredential } from '../dist/credential/header.js'

// Bounded anyway (mitata stops each benchmark by itself), but never outlive the orchestrator.
process.on('disconnect', () => process.exit(0))

const ISSUER = 'https://auth.bench.portkey.test/'
const AUDIENCE = 'https://api.portkey.bench'
const API_KEY = 'pk-bench-micro-0123456789abcdef0123'

const issuer = await createTestIssuer('bench-key-1')
const token = await issuer.sign({
  iss: ISSUER,
  aud: AUDIENCE,
  sub: 'user_bench',
  portkey_oid: 'org_bench',
  portkey_workspace: 'ws_bench',
  scope: 'portkey.completions.write',
})
const record = keyRecord({ id: 'key_bench', organisation_id: 'org_bench', workspace_id: 'ws_bench' })
const verifier = createVerifier({
  // No network: the key service is a function; after the first call every verify() below is a cache hit.
  lookup: async (key) => (key === API_KEY ? record : null),
  jwt: { jwks: issuer.jwks, issuer: ISSUER, audience: AUDIENCE },
})

// Issue 17: the same API-key path with telemetry on, reporting to OpenTelemetry's SDK (a reader that only
// collects when asked, so that the time is the request's own).
class Reader extends MetricReader {
  onShutdown = async () => {}
  onForceFlush = async () => {}
}
const reader = new Reader()
const withTelemetry = createVerifier({
  lookup: async (key) => (key === API_KEY ? record : null),
  telemetry: { meterProvider: new MeterProvider({ readers: [reader] }) },
})

// Headers as Node hands them to a middleware (lower-case names, string values).
const base = { host: '127.0.0.1:3000', 'user-agent': 'bench', accept: '*/*', connection: 'keep-alive' }
const keyHeaders = { ...base, 'x-portkey-api-key': API_KEY }
const jwtHeaders = { ...base, 'x-portkey-api-key': token }

// Warm both entries and prove they are admitted, so that a broken setup cannot pass as a fast one.
for (const headers of [keyHeaders, jwtHeaders]) {
  const auth = await verifier.verify(headers)
  if (auth.organisationId !== 'org_bench') throw new Error('micro: warm-up verify() did not admit')
}
await withTelemetry.verify(keyHeaders)
const before = verifier.stats()

bench('verify() cache hit, API key', () => verifier.verify(keyHeaders))
bench('verify() cache hit, JWT', () => verifier.verify(jwtHeaders))
bench('check() cache hit, API key (what the adapters call)', () => do_not_optimize(verifier.check(keyHeaders)))
bench('check() cache hit, API key, telemetry on', () => do_not_optimize(withTelemetry.check(keyHeaders)))
bench(`fingerprint() of the API key (${API_KEY.length} B)`, () => do_not_optimize(fingerprint(API_KEY)))
bench(`fingerprint() of the JWT (${token.length} B)`, () => do_not_optimize(fingerprint(token)))
bench('takeCredential() of the API key headers', () => do_not_optimize(takeCredential(keyHeaders)))
bench('takeCredential() of the JWT headers', () => do_not_optimize(takeCredential(jwtHeaders)))
const resolved = Object.freeze({ ok: true })
bench('reference: async function returning a value', async () => resolved)

const { benchmarks } = await run({ format: 'quiet', throw: true })
const after = verifier.stats()
if (after.lookups !== before.lookups || after.misses !== before.misses)
  throw new Error('micro: a measured verify() was not a cache hit')
// The telemetry verifier's hits were counted, all of them: the tally is what is measured.
const { resourceMetrics } = await reader.collect()
const counted = resourceMetrics.scopeMetrics
  .flatMap((scope) => scope.metrics)
  .filter((metric) => metric.descriptor.name === 'portkey_auth.decisions')
  .flatMap((metric) => /** @type {{ value: unknown }[]} */ (metric.dataPoints))
  .reduce((n, point) => n + Number(point.value), 0)
if (counted !== withTelemetry.stats().hits + withTelemetry.stats().misses)
  throw new Error(`micro: telemetry counted ${counted} decisions, the verifier made ${withTelemetry.stats().hits + 1}`)

/** @typedef {{ results: { name: string, p50: number, avg: number, p99: number, samples: number }[], hits: number }} MicroReport */
/** @type {MicroReport} */
const report = {
  results: benchmarks.map((trial) => {
    const [{ stats, name }] = trial.runs
    if (stats === undefined) throw new Error(`micro: ${name} failed`)
    return { name, p50: stats.p50, avg: stats.avg, p99: stats.p99, samples: stats.samples.length }
  }),
  hits: after.hits - before.hits,
}
process.stdout.write(`${JSON.stringify(report)}\n`)
process.exit(0)
