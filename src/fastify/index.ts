/**
 * Fastify (4 and 5): `portkeyAuth`, a plugin that sets `request.portkey` and, for a rate-limited key,
 * `request.portkeyQuota` (or decorates `verifyPortkey` for `@fastify/auth`), and `requirePermissions()`, a route hook.
 * @packageDocumentation
 */

import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { SERVER_FEATURES } from '../adapters/server-features.js'
import { createDispatch, createPermissionCheck, type Framework, type VerifierHandle } from '../adapters/dispatch.js'
import type { MiddlewareFeatures, MiddlewareOptions } from '../adapters/middleware-options.js'
import { contextOrThrow } from '../adapters/portkey-of.js'
import { type AuthError, errorBody } from '../errors.js'
import { MIDDLEWARE_NAMES, type Names } from '../options/names.js'
import type { VerifierOptions } from '../options/verifier-options.js'
import type { PortkeyAuth, Quota } from '../types.js'
import type { Verifier } from '../verifier/verifier.js'
import { fastifyRoute } from './route.js'
import { hideCredential } from '../adapters/hide-credential.js'
import { RequestQuota } from '../rate-limit/quota.js'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The caller's Portkey context, set by `portkeyAuth` (its hook, or `verifyPortkey`); absent on routes
     * neither guards, on its `publicRoutes`, and where another `@fastify/auth` strategy admitted the request.
     * `portkeyOf(request)` reads it as `PortkeyAuth`, or throws if it is absent.
     */
    portkey?: PortkeyAuth
    /**
     * This request's standing against its rate limits, set by `portkeyAuth` beside `portkey` when a limit
     * applies. `quotaOf(request)` reads it, or `null`.
     */
    portkeyQuota?: Quota
  }
  interface FastifyInstance {
    /**
     * The check as a function for `@fastify/auth` (`app.auth([app.verifyPortkey, …])`) or a route's
     * `onRequest`: sets `request.portkey` and calls `done()`, or calls `done(error)` with the `AuthError` for
     * your error handler. Decorated by `register(portkeyAuth, { addHook: false })`, on that context and its
     * children only: elsewhere it is `undefined`, and a route given `onRequest: undefined` is open.
     */
    verifyPortkey: PortkeyVerify
    /** The verifier `portkeyAuth` checks requests with (`invalidate()`, `stats()`, `probe()`…), on its context. */
    portkeyVerifier: Verifier
  }
}

/**
 * Takes over the response to a rejected request (from `portkeyAuth`'s hook and the `requirePermissions()` after
 * it): answer with `reply`, or `throw error` to hand it to your Fastify error handler (the error carries
 * `status`, `headers` and `expose`, which Fastify's default handler uses). It may be async.
 */
export type FastifyErrorHandler = (error: AuthError, request: FastifyRequest, reply: FastifyReply) => unknown

/** Options of the Fastify plugin. */
export interface FastifyAuthOptions extends MiddlewareOptions<FastifyErrorHandler> {
  /**
   * `true`: check every request of the context the plugin is registered in, in an `onRequest` hook, and
   * answer refusals (status, headers, JSON body; or `onError`). `false`: add no hook; decorate the context
   * with `verifyPortkey` instead, for `@fastify/auth` or a route's `onRequest`, which hands refusals to
   * `done(error)` (so to `@fastify/auth`, then your error handler) and never answers itself; `onError` is
   * refused with it (handle the `AuthError` in `setErrorHandler`). The name is `@fastify/bearer-auth`'s.
   * @default true
   */
  addHook?: boolean
}

// The plugin's own options, every one in its table of names: one added above and not there fails to compile.
MIDDLEWARE_NAMES.fastify satisfies Names<Omit<FastifyAuthOptions, keyof VerifierOptions>>

/** `app.verifyPortkey`: a callback hook, and an `@fastify/auth` strategy. It returns nothing (no promise). */
export type PortkeyVerify = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void

/** The plugin's type: register it with its options, or a verifier from `createVerifier()`. */
export type PortkeyAuthPlugin = FastifyPluginCallback<FastifyAuthOptions | Verifier>

type Done = HookHandlerDoneFunction

// Fastify's own options' names (its decorator's and plugin's), with the servers' features.
const FASTIFY_FEATURES: MiddlewareFeatures = { ...SERVER_FEATURES, names: 'fastify' }

const FASTIFY: Framework<FastifyRequest, FastifyReply, Done, unknown> = {
  headers: (request) => request.headers,
  route: fastifyRoute,
  request: (request) => request.raw,
  rawHeaders: (request) => request.raw.rawHeaders,
  attach: (request, auth, quota) => {
    request.portkey = auth
    if (quota !== null) request.portkeyQuota = quota
  },
  attached: (request) => request.portkey,
  attachedQuota: quotaOf,
  // Each by name: reply.headers() would list the object's keys first.
  setHeaders: (headers, _request, reply) => {
    reply.header('ratelimit-policy', headers['ratelimit-policy'])
    reply.header('ratelimit', headers.ratelimit)
  },
  next: (_request, _reply, done) => done(),
  send: (error, _request, reply) => void reply.code(error.status).headers(error.headers).send(errorBody(error)),
  fail: (error, _request, _reply, done) => done(error as Error),
}

/**
 * `verifyPortkey`'s refusals: the error to `done()`, the reply's status set to it (as `@fastify/bearer-auth`
 * does; `@fastify/auth` puts 200 back when another strategy admits the request). The error's headers are
 * left to the error handler, so that they never reach a response another strategy admitted.
 */
const DECORATOR: Framework<FastifyRequest, FastifyReply, Done, unknown> = {
  ...FASTIFY,
  send: (error, _request, reply, done) => {
    reply.code(error.status)
    done(error)
  },
  fail: (error, _request, reply, done) => {
    reply.code(500)
    done(error as Error)
  },
}

/**
 * Fastify plugin: admits requests with a valid Portkey credential and sets `request.portkey`; answers the
 * others with the error's status and JSON body. It guards the context that registers it (it skips
 * encapsulation, as `fastify-plugin` would): at the root every route, in an encapsulated plugin that plugin's
 * routes and its children's. With `addHook: false` it guards nothing itself and decorates `verifyPortkey`.
 * Either way it decorates `portkeyVerifier`. Registering it again where it is registered (the same context
 * or one inside it) fails: each request would be checked, and counted against its key's limits, twice.
 *
 * @example
 * ```ts
 * await app.register(portkeyAuth, { scopes: 'portkey' })
 * app.get('/v1/models', (request) => listModels(portkeyOf(request).workspaceId))
 * await app.portkeyVerifier.invalidate(revokedKey)
 * ```
 */
export const portkeyAuth: PortkeyAuthPlugin = asPlugin(function portkeyAuth(instance, options, done) {
  if (typeof done !== 'function') {
    throw new TypeError(
      'portkey-auth: portkeyAuth is a Fastify plugin, not a factory: app.register(portkeyAuth, options); ' +
        'its verifier is then app.portkeyVerifier (or pass your own: { verifier: createVerifier(…) })',
    )
  }
  try {
    install(instance, options)
  } catch (error) {
    return done(error as Error)
  }
  done()
})
export default portkeyAuth

/**
 * Adds the check to `instance`'s context: a hook or `verifyPortkey`, `portkeyVerifier`, and `request.portkey` and
 * `request.portkeyQuota`.
 */
function install(instance: FastifyInstance, options: FastifyAuthOptions | Verifier | undefined): void {
  if (instance.hasDecorator('portkeyVerifier')) {
    throw new Error(
      'portkey-auth: portkeyAuth is already registered in this context or one around it: register it once per ' +
        'context (sibling plugins may each have their own)',
    )
  }
  const { addHook, own } = ownOptions(options)
  const hides = !addHook && typeof own === 'object' && own !== null && (own as FastifyAuthOptions).hideCredentials === true
  const dispatch = createDispatch(own, addHook ? FASTIFY : hides ? decoratorReadingKept : DECORATOR, FASTIFY_FEATURES)
  // A callback hook, not an async one: a cached credential calls done() in this tick, with no promise. It
  // returns nothing: @fastify/auth would take a promise's settling for a pass.
  const verify: PortkeyVerify = function verifyPortkey(request, reply, done) {
    const result = dispatch(request, reply, done)
    // An onError that throws after a look-up (or an async one that rejects) reaches the error handler.
    if (result instanceof Promise) result.catch(done)
  }
  instance.decorate('portkeyVerifier', dispatch.verifier)
  // Declared on the request, so that every request of the context has one shape, guarded or not.
  if (!instance.hasRequestDecorator('portkey')) instance.decorateRequest('portkey', undefined)
  if (!instance.hasRequestDecorator('portkeyQuota')) instance.decorateRequest('portkeyQuota', undefined)
  if (addHook) {
    instance.addHook('onRequest', verify)
    return
  }
  instance.decorate('verifyPortkey', verify)
  // With hideCredentials, the credential leaves every request of the context before any strategy runs (one
  // that admits first would leave it there for the handler), and verifyPortkey reads it from where it is kept.
  if (hides) {
    const bearer = dispatch.verifier.bearer !== false
    instance.addHook('onRequest', function portkeyHideCredentials(request, _reply, done) {
      kept.set(request, { headers: { ...request.headers }, rawHeaders: [...request.raw.rawHeaders] })
      hideCredential(request.raw, bearer)
      done()
    })
  }
  instance.addHook('onSend', givesBackRefused)
}

/** The credential headers of a request taken out by `hideCredentials` before `verifyPortkey` ran. */
const kept = new WeakMap<FastifyRequest, { headers: FastifyRequest['headers']; rawHeaders: readonly string[] }>()

const decoratorReadingKept: Framework<FastifyRequest, FastifyReply, Done, unknown> = {
  ...DECORATOR,
  headers: (request) => kept.get(request)?.headers ?? request.headers,
  rawHeaders: (request) => kept.get(request)?.rawHeaders ?? request.raw.rawHeaders,
}

/**
 * `verifyPortkey` admits before the strategies after it decide: a request it admitted that is then refused (401
 * or 403: another strategy of `@fastify/auth` under `relation: 'and'`, or the app) gives back the allowance it
 * was counted against, and its answer carries no `RateLimit` headers, as a refused request costs nothing.
 */
function givesBackRefused(
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
  done: (error: null, payload: unknown) => void,
) {
  if (request.portkey !== undefined && (reply.statusCode === 401 || reply.statusCode === 403)) {
    RequestQuota.refund(request.portkeyQuota, request.portkey)
    reply.removeHeader('ratelimit')
    reply.removeHeader('ratelimit-policy')
  }
  done(null, payload)
}

/**
 * What `fastify-plugin` sets: skip-override, so the hook goes into the context that registers the plugin (without
 * it Fastify would give the hook a child context of its own, holding no route: it would guard nothing); the
 * name Fastify shows (`printPlugins()`, `hasPlugin()`); the Fastify majors it supports, which Fastify checks.
 */
function asPlugin<P extends object>(plugin: P): P {
  return Object.defineProperties(plugin, {
    [Symbol.for('skip-override')]: { value: true },
    [Symbol.for('fastify.display-name')]: { value: 'portkey-auth' },
    [Symbol.for('plugin-meta')]: { value: { name: 'portkey-auth', fastify: '4.x || 5.x' } },
  })
}

/**
 * The plugin's options less those `register()` reads itself, and `addHook` apart. `prefix` is refused: a
 * plugin that guards the context registering it has no prefix of its own. An `onError` is awaited only when
 * it returns a promise (a Fastify reply, which it may return, is thenable too).
 */
function ownOptions(options: FastifyAuthOptions | Verifier | undefined): {
  addHook: boolean
  own: FastifyAuthOptions | Verifier | undefined
} {
  if (typeof options !== 'object' || options === null || typeof (options as Verifier).check === 'function') {
    return { addHook: true, own: options }
  }
  if ('prefix' in options) {
    throw new TypeError(
      'portkey-auth: portkeyAuth guards the context it is registered in, and takes no prefix: register it inside ' +
        "the plugin that has the prefix, e.g. app.register(async (v1) => { await v1.register(portkeyAuth); … }, { prefix: '/v1' })",
    )
  }
  const { addHook = true, onError, logLevel, logSerializers, ...own } = options as FastifyAuthOptions & Record<string, unknown>
  if (typeof addHook !== 'boolean') throw new TypeError('portkey-auth: addHook must be a boolean')
  if (!addHook && onError !== undefined) {
    throw new TypeError(
      'portkey-auth: onError takes over the answer of the hook, and addHook: false adds none: verifyPortkey hands ' +
        'the AuthError to done(), for @fastify/auth and your error handler (setErrorHandler)',
    )
  }
  if (typeof onError !== 'function') return { addHook, own: onError === undefined ? own : { ...own, onError } }
  return {
    addHook,
    own: {
      ...own,
      onError(error, request, reply) {
        const result = onError(error, request, reply)
        return result instanceof Promise ? result : undefined
      },
    },
  }
}

/**
 * Route hook after `portkeyAuth` (`preHandler`, or a route's `onRequest`): passes when the caller holds every
 * one of `scopes`, else answers 403 `insufficient_scope` (through `portkeyAuth`'s `onError`). Without
 * `portkeyAuth` before it, it answers 500 rather than pass.
 *
 * @example app.get('/v1/logs', { preHandler: requirePermissions('logs.read') }, listLogs)
 */
export function requirePermissions(
  ...scopes: string[]
): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  const check = createPermissionCheck(scopes, FASTIFY)
  return function requirePermissions(request, reply, done) {
    const result = check(request, reply, done)
    if (result instanceof Promise) result.catch(done)
  }
}

/**
 * The caller's context on a route behind `portkeyAuth`: `request.portkey`, typed as present. Where it is
 * absent (a route the plugin does not guard, one of its `publicRoutes`) it throws the 500 `auth_misconfigured`
 * `AuthError` to your error handler, as `requirePermissions()` answers there, rather than serve the request.
 *
 * @example app.get('/v1/models', (request) => listModels(portkeyOf(request).workspaceId))
 */
export function portkeyOf(request: { readonly portkey?: PortkeyAuth | undefined }): PortkeyAuth {
  return contextOrThrow(request.portkey)
}

/**
 * This request's standing against its key's (and virtual key's) rate limits, beside its context: what is left,
 * when the window resets, `reportTokens()`. `null` when no limit applies (or with `rateLimits: false`), and where
 * `portkeyAuth` did not check the request.
 *
 * @example await quotaOf(request)?.reportTokens(completion.usage.total_tokens)
 */
export function quotaOf(request: { readonly portkeyQuota?: Quota | undefined }): Quota | null {
  return request.portkeyQuota ?? null
}

export type { PortkeyAuth, Quota, Verifier, VerifierHandle }
