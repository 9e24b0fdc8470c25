// @ts-check
// A child of the bench, `node bench/server.js <scenario>` (settings: env BENCH_SERVER), printing {"port":N} once it
// listens: a contender `<framework>-<variant>` serving GET /v1/ping (bench/README.md lists them; IPC: { stats }); a
// fleet instance, `fleet[-redis]`, that verifies the keys sent ({ keys } -> { statuses }); or the control-plane `stub`
// ({ type: 'keys' | 'delay' | 'reset' | 'drop' | 'counts' } -> its counts), apart so that the load generator never
// delays its answers.
import { createServer } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { createVerifier } from 'portkey-auth'
import { answerParent } from './children.js'

const scenario = process.argv[2] ?? ''
const SCENARIOS =
  /^((express|koa|fastify|hono)-(bare|noop|naive|portkey-(key|jwt|key-otel|limited|limited-redis))|express-auth0|stub|fleet(-redis)?)$/
if (!SCENARIOS.test(scenario)) {
  console.error(`bench/server.js: unknown scenario ${scenario}`)
  process.exit(2)
}
const [framework, variant = ''] = scenario.split(/-(.*)/)
/**
 * The settings; `ttlMs`, when given, is the verifier's `cache.ttlMs` (bench/instructions.js keeps its entries fresh
 * through the count).
 * @type {import('./children.js').ServerSettings & { ttlMs?: number }}
 */
const config = JSON.parse(process.env.BENCH_SERVER ?? '{}')
const print = (/** @type {number} */ port) => process.stdout.write(`${JSON.stringify({ port })}\n`)
if (scenario === 'stub') {
  const { JWKS_PATH, KEY_DETAILS_PATH, keyRecord, startControlPlaneStub } = await import('portkey-auth/testing')
  let stub = await startControlPlaneStub({ jwks: /** @type {{ keys: object[] }} */ (config.jwks) })
  let made = 0
  answerParent(async ({ type, keys = [], rateLimits = [], ms = 0 }) => {
    const fields = { organisation_id: 'org_bench', workspace_id: 'ws_bench', rate_limits: rateLimits }
    if (type === 'keys') for (const key of keys) stub.keys.set(key, keyRecord({ id: `key_bench_${++made}`, ...fields }))
    if (type === 'delay') stub.delayMs = ms
    if (type === 'reset') stub.resetCounts()
    if (type === 'drop') {
      // Closes every connection (the verifiers' idle ones, now rather than 60 s after their last call) and listens
      // again on its port with the same records; its counts start again.
      const { url, jwks, keys: records, delayMs } = stub
      await stub.close()
      stub = await startControlPlaneStub({ jwks, keys: Object.fromEntries(records), delayMs, port: Number(new URL(url).port) })
    }
    return { keyCalls: stub.calls(KEY_DETAILS_PATH), jwksCalls: stub.calls(JWKS_PATH), peakInFlight: stub.peakInFlight }
  })
  print(Number(new URL(stub.url).port))
} else {
  // Made here (not inside portkeyAuth) only so that its stats can be read; portkeyAuth(verifier) runs the same code.
  const verifier =
    variant.startsWith('portkey') || framework === 'fleet'
      ? createVerifier({
          controlPlaneUrl: config.controlPlaneUrl,
          ...(config.ttlMs === undefined ? {} : { cache: { ttlMs: config.ttlMs } }),
          ...(scenario.endsWith('-redis') ? { redis: { url: config.redisUrl, prefix: config.redisPrefix } } : {}),
          ...(variant === 'portkey-jwt'
            ? { jwt: { jwksUrl: config.jwksUrl, issuer: config.issuer, audience: config.audience } }
            : {}),
          ...(variant.endsWith('-otel') ? { telemetry: await telemetry() } : {}),
        })
      : null
  // With Redis, it starts once connected (up to 5 s), so that no request is counted alone.
  const redis = () => verifier?.stats().redis
  for (let waited = 0; redis() && !(redis()?.connected && redis()?.listening); waited += 50) {
    if (waited >= 5_000) throw new Error(`${scenario}: Redis not connected in 5 s`)
    await sleep(50)
  }
  /** @type {(key: string) => Promise<number>} */
  const verify = async (key) =>
    (await verifier?.verify({ 'x-portkey-api-key': key }).then(
      () => 200,
      (error) => error.status,
    )) ?? 0
  answerParent(async ({ keys }) =>
    keys ? { statuses: await Promise.all(keys.map(verify)) } : { stats: verifier?.stats() ?? null },
  )
  if (framework === 'fleet') print(0)
  else {
    // Each loads only its own framework (a profile shows no other's code), on a node:http server made alike.
    const server = await serve(verifier)
    server.keepAliveTimeout = 60_000
    // A burst opens 1,000 connections at once: a backlog that holds them all, so none waits for a SYN retry.
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => print(Number(Object(server.address()).port)))
  }
}
/** @type {(verifier: import('portkey-auth').Verifier | null) => Promise<import('node:http').Server>} The contender's app. */
async function serve(verifier) {
  // The floor (`noop`) is one empty middleware of the framework's cheapest form (not `async`), which does no work;
  // the naive limit (`naive`) one of the same form that looks the key up in a Map (bench/naive.js).
  const BODY = { ok: true }
  if (framework === 'express') {
    const { default: express } = await import('express')
    const app = express()
    if (verifier !== null) app.use((await import('portkey-auth/express')).portkeyAuth(verifier))
    if (variant === 'auth0') {
      const { auth } = await import('express-oauth2-jwt-bearer')
      app.use(auth({ issuer: config.issuer, audience: config.audience, jwksUri: config.jwksUrl, tokenSigningAlg: 'RS256' }))
    }
    if (variant === 'noop') app.use((_req, _res, next) => next())
    if (variant === 'naive') app.use((await import('./naive.js')).express)
    app.get('/v1/ping', (_req, res) => {
      res.json(BODY)
    })
    // Refusals (the start-up check sends one) answered quietly; never reached by an admitted request.
    /** @type {import('express').ErrorRequestHandler} */
    const refused = (error, _req, res, _next) => res.status(error.status ?? 500).json({ error: error.code ?? 'error' })
    return createServer(app.use(refused))
  }
  if (framework === 'koa') {
    const { default: Koa } = await import('koa')
    const app = new Koa()
    app.silent = true
    if (verifier !== null) app.use((await import('portkey-auth/koa')).portkeyAuth(verifier))
    if (variant === 'noop') app.use((_ctx, next) => next())
    if (variant === 'naive') app.use((await import('./naive.js')).koa)
    app.use((ctx) => {
      if (ctx.method === 'GET' && ctx.path === '/v1/ping') ctx.body = BODY
    })
    return createServer(app.callback())
  }
  if (framework === 'fastify') {
    const { default: Fastify } = await import('fastify')
    // Fastify's own request handler, on a server made here (its documented serverFactory).
    let made = createServer()
    const app = Fastify({ serverFactory: (handler) => (made = createServer(handler)) })
    if (verifier !== null) await app.register((await import('portkey-auth/fastify')).portkeyAuth, verifier)
    if (variant === 'noop') app.addHook('onRequest', (_request, _reply, done) => done())
    if (variant === 'naive') await app.register((await import('./naive.js')).fastify)
    app.get('/v1/ping', (_request, reply) => {
      reply.send(BODY)
    })
    await app.ready()
    return made
  }
  const { Hono } = await import('hono')
  const { getRequestListener } = await import('@hono/node-server')
  const app = new Hono()
  if (verifier !== null) app.use((await import('portkey-auth/hono')).portkeyAuth(verifier))
  if (variant === 'noop') app.use((_c, next) => next())
  if (variant === 'naive') app.use((await import('./naive.js')).hono)
  app.get('/v1/ping', (c) => c.json(BODY))
  return createServer(getRequestListener(app.fetch)) // what @hono/node-server's serve() runs
}
/** Telemetry on (issue 17): the SDK, a reader collecting every second into an exporter that drops it, a span processor. */
async function telemetry() {
  const { MeterProvider, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics')
  const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base')
  /** @type {import('@opentelemetry/sdk-metrics').PushMetricExporter} */
  const exporter = { export: (_metrics, done) => done({ code: 0 }), forceFlush: async () => {}, shutdown: async () => {} }
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 1_000 })
  const spanProcessors = [new SimpleSpanProcessor(new InMemorySpanExporter())]
  return { meterProvider: new MeterProvider({ readers: [reader] }), tracerProvider: new BasicTracerProvider({ spanProcessors }) }
}
