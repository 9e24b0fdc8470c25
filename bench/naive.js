// @ts-check
// The naive limit (issue 26), bench/server.js's `<framework>-naive`: one middleware of the framework's cheapest form
// (not `async`, as the floor) that reads `x-portkey-api-key`, takes its SHA-256 (Node's one-shot crypto.hash), reads a
// Map filled at start (the known key's fingerprint → a small frozen context) and attaches the context as the
// framework's users read it, or answers 401. What a hand-written guard over an in-memory table costs: no cache
// expiry, no look-up, no revocation, no rate limit, no JWT. Loaded only by the naive contenders.
import { hash } from 'node:crypto'
import { KNOWN_KEY } from './lib.js'

const HEADER = 'x-portkey-api-key'
const fingerprint = (/** @type {string} */ key) => hash('sha256', key, 'base64url')
/** The known key's context (what a Map of keys read from a store at start would hold). */
const CONTEXT = Object.freeze({ keyId: 'key_bench_naive', organisationId: 'org_bench', workspaceId: 'ws_bench' })
const KEYS = new Map([[fingerprint(KNOWN_KEY), CONTEXT]])
const REFUSED = { error: 'invalid_api_key' }
/** The context of a request's key, or undefined (no key, a repeated one, an unknown one). */
const contextOf = (/** @type {string | string[] | null | undefined} */ key) =>
  typeof key === 'string' ? KEYS.get(fingerprint(key)) : undefined

/** Express: `req.portkey`. */
export const express = (
  /** @type {import('express').Request} */ req,
  /** @type {import('express').Response} */ res,
  /** @type {import('express').NextFunction} */ next,
) => {
  const context = contextOf(req.headers[HEADER])
  if (context === undefined) res.status(401).json(REFUSED)
  else {
    req.portkey = /** @type {any} */ (context)
    next()
  }
}
/** Koa: `ctx.state.portkey`. Node's headers object, which `ctx.headers` returns too (through Koa's delegated getters). */
export const koa = (/** @type {import('koa').Context} */ ctx, /** @type {import('koa').Next} */ next) => {
  const context = contextOf(ctx.req.headers[HEADER])
  if (context === undefined) {
    ctx.status = 401
    ctx.body = REFUSED
    return
  }
  ctx.state.portkey = context
  return next()
}
/**
 * Fastify: a plugin (skip-override, as `fastify-plugin` sets, so that its hook guards the routes of the context that
 * registers it) that declares `request.portkey` first, then an `onRequest` callback hook setting it.
 * @type {import('fastify').FastifyPluginCallback}
 */
export const fastify = Object.defineProperty(
  (instance, _options, done) => {
    instance.decorateRequest('portkey', undefined)
    instance.addHook('onRequest', (request, reply, next) => {
      const context = contextOf(request.headers[HEADER])
      if (context === undefined) reply.code(401).send(REFUSED)
      else {
        request.portkey = /** @type {any} */ (context)
        next()
      }
    })
    done()
  },
  Symbol.for('skip-override'),
  { value: true },
)
/**
 * Hono: `c.set('portkey', …)`. The header through Hono's own API, `c.req.header()`: on @hono/node-server that builds
 * the request's Web Headers from Node's (portkeyAuth reads Node's object while the app has not touched them). A
 * refusal is answered with the Response itself, not a promise of it, which Hono takes too.
 */
export const hono = /** @type {import('hono').MiddlewareHandler} */ (
  (/** @type {import('hono').Context} */ c, /** @type {import('hono').Next} */ next) => {
    const context = contextOf(c.req.header(HEADER))
    if (context === undefined) return c.json(REFUSED, 401)
    c.set('portkey', context)
    return next()
  }
)
