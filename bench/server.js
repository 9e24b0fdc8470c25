// @ts-check
// One contender of the benchmark, alone in its process: `node bench/server.js <scenario>`.
// Serves GET /v1/ping -> {"ok":true} on 127.0.0.1 and prints {"port":N} as its first stdout line.
// Settings come from env BENCH_SERVER (JSON: controlPlaneUrl, jwksUrl, issuer, audience; redisUrl and
// redisPrefix for the -redis scenarios); the parent may ask for the verifier's stats over IPC
// ({ type: 'stats' } -> { stats }).
import { createServer } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { createVerifier } from 'portkey-auth'
import { answerParent } from './children.js'

const SCENARIOS = [
  'express-bare',
  'express-noop',
  'express-portkey-key',
  'express-portkey-jwt',
  'express-auth0',
  'koa-bare',
  'koa-noop',
  'koa-portkey-key',
  'koa-portkey-jwt',
  'express-portkey-key-otel',
  'koa-portkey-key-otel',
  'fastify-bare',
  'fastify-noop',
  'fastify-portkey-key',
  'hono-bare',
  'hono-noop',
  'hono-portkey-key',
  // Scenario 11 (issue 16): the cached API-key path, sent a key whose requests limit the run never reaches;
  // the -redis ones lease its allowance from a shared redis-server.
  'express-portkey-limited',
  'express-portkey-limited-redis',
  'koa-portkey-limited',
  'koa-portkey-limited-redis',
]

const scenario = process.argv[2] ?? ''
if (!SCENARIOS.includes(scenario)) {
  console.error(`bench/server.js: unknown scenario ${scenario}; one of ${SCENARIOS.join(', ')}`)
  process.exit(2)
}
/** @type {import('./children.js').ServerSettings} */
const config = JSON.parse(process.env.BENCH_SERVER ?? '{}')
const BODY = { ok: true }

// Every portkey contender gets the same verifier setup; the JWT one also accepts tokens from the JWKS, and
// the -otel ones (scenario 10) report to OpenTelemetry's SDK. The verifier is made here (not inside
// portkeyAuth) only so that its stats can be read over IPC; portkeyAuth(verifier) runs exactly the same
// per-request code.
const verifier = scenario.includes('portkey')
  ? createVerifier({
      ...(scenario.endsWith('-redis') ? { redis: { url: config.redisUrl, prefix: config.redisPrefix } } : {}),
      controlPlaneUrl: config.controlPlaneUrl,
      ...(scenario.endsWith('-jwt')
        ? { jwt: { jwksUrl: config.jwksUrl, issuer: config.issuer, audience: config.audience } }
        : {}),
      ...(scenario.endsWith('-otel') ? { telemetry: await telemetry() } : {}),
    })
  : null

/**
 * Scenario 10: the real SDK, as an app runs it: a MeterProvider whose periodic reader collects every second
 * (more often than a Prometheus scrape or an OTLP push would), into an exporter that drops what it gets, and
 * a tracer provider with a span processor (a cached request makes no span).
 */
async function telemetry() {
  const { MeterProvider, PeriodicExportingMetricReader } = await import('@opentelemetry/sdk-metrics')
  const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base')
  /** @type {import('@opentelemetry/sdk-metrics').PushMetricExporter} */
  const exporter = {
    export: (_metrics, done) => done({ code: 0 }),
    forceFlush: async () => {},
    shutdown: async () => {},
  }
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 1_000 })
  const spans = new SimpleSpanProcessor(new InMemorySpanExporter())
  return {
    meterProvider: new MeterProvider({ readers: [reader] }),
    tracerProvider: new BasicTracerProvider({ spanProcessors: [spans] }),
  }
}

/** @type {import('node:http').Server} */
let server
// Each contender loads only what it runs (a profile of one shows no other's code). Each is served by a
// node:http server made here, with the same settings, whatever the framework.
if (scenario.startsWith('express')) {
  const { default: express } = await import('express')
  const app = express()
  if (verifier !== null) {
    const { portkeyAuth } = await import('portkey-auth/express')
    app.use(portkeyAuth(verifier))
  }
  if (scenario === 'express-auth0') {
    const { auth } = await import('express-oauth2-jwt-bearer')
    app.use(auth({ issuer: config.issuer, audience: config.audience, jwksUri: config.jwksUrl, tokenSigningAlg: 'RS256' }))
  }
  // The floor of any middleware: one empty layer of Express's cheapest form, which does no work.
  if (scenario === 'express-noop') app.use((_req, _res, next) => next())
  app.get('/v1/ping', (_req, res) => {
    res.json(BODY)
  })
  // Rejections (the start-up check sends one) answered quietly; never reached by an admitted request.
  /** @type {import('express').ErrorRequestHandler} */
  const refused = (error, _req, res, _next) => res.status(error.status ?? 500).json({ error: error.code ?? 'error' })
  app.use(refused)
  server = createServer(app)
} else if (scenario.startsWith('koa')) {
  const { default: Koa } = await import('koa')
  const app = new Koa()
  app.silent = true
  if (verifier !== null) {
    const { portkeyAuth } = await import('portkey-auth/koa')
    app.use(portkeyAuth(verifier))
  }
  // The floor of any middleware: one empty layer of Koa's cheapest form (not `async`: no promise of its
  // own, it hands on next()'s), which does no work.
  if (scenario === 'koa-noop') app.use((_ctx, next) => next())
  app.use((ctx) => {
    if (ctx.method === 'GET' && ctx.path === '/v1/ping') ctx.body = BODY
  })
  server = createServer(app.callback())
} else if (scenario.startsWith('fastify')) {
  const { default: Fastify } = await import('fastify')
  // Fastify's own request handler, on a server made here (Fastify's documented serverFactory).
  /** @type {import('node:http').Server | undefined} */
  let made
  const app = Fastify({ serverFactory: (handler) => (made = createServer(handler)) })
  if (verifier !== null) {
    const { portkeyAuth } = await import('portkey-auth/fastify')
    await app.register(portkeyAuth, verifier)
  }
  // The floor of any hook: one empty onRequest hook of Fastify's cheapest form (a callback, not `async`:
  // no promise), which does no work.
  if (scenario === 'fastify-noop') app.addHook('onRequest', (_request, _reply, done) => done())
  app.get('/v1/ping', (_request, reply) => {
    reply.send(BODY)
  })
  await app.ready()
  if (made === undefined) throw new Error('bench/server.js: Fastify made no server')
  server = made
} else {
  const { Hono } = await import('hono')
  const { getRequestListener } = await import('@hono/node-server')
  const app = new Hono()
  if (verifier !== null) {
    const { portkeyAuth } = await import('portkey-auth/hono')
    app.use(portkeyAuth(verifier))
  }
  // The floor of any middleware: one empty middleware of Hono's cheapest form (not `async`: no promise of
  // its own, it hands on next()'s), which does no work.
  if (scenario === 'hono-noop') app.use((_c, next) => next())
  app.get('/v1/ping', (c) => c.json(BODY))
  // What @hono/node-server's serve() runs, on a server made here.
  server = createServer(getRequestListener(app.fetch))
}

// A -redis contender listens once its Redis is connected (up to 5 s), so that no request is counted alone.
const redisReady = () => {
  const redis = verifier?.stats().redis
  return redis == null || (redis.connected && redis.listening)
}
for (let waited = 0; !redisReady() && waited < 5_000; waited += 50) await sleep(50)

server.keepAliveTimeout = 60_000
// A burst opens 1,000 connections at once: a backlog that holds them all, so none waits for a SYN retry.
server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address())
  process.stdout.write(`${JSON.stringify({ port })}\n`)
})
answerParent(() => ({ stats: verifier?.stats() ?? null }))
