import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { createDispatch, createPermissionCheck, type Framework, type VerifierHandle, withVerifier } from '../adapters/dispatch.js'
import type { MiddlewareOptions } from '../adapters/middleware-options.js'
import { contextOrThrow } from '../adapters/portkey-of.js'
import { type AuthError, errorBody } from '../errors.js'
import type { PortkeyAuth } from '../types.js'
import type { Verifier } from '../verifier/verifier.js'
import { fastifyRoute } from './route.js'

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The caller's Portkey context, set by the `portkeyAuth` plugin; absent on routes it does not guard (and
     * on its `publicRoutes`). `portkeyOf(request)` reads it as `PortkeyAuth`, or throws if it is absent.
     */
    portkey?: PortkeyAuth
  }
}

/**
 * Takes over the response to a rejected request (from `portkeyAuth` and the `requirePermissions()` after
 * it): answer with `reply`, or `throw error` to hand it to your Fastify error handler (the error carries
 * `status`, `headers` and `expose`, which Fastify's default handler uses). It may be async.
 */
export type FastifyErrorHandler = (error: AuthError, request: FastifyRequest, reply: FastifyReply) => unknown

/** Options of the Fastify plugin. */
export type FastifyAuthOptions = MiddlewareOptions<FastifyErrorHandler>

type Done = HookHandlerDoneFunction

const FASTIFY: Framework<FastifyRequest, FastifyReply, Done, unknown> = {
  headers: (request) => request.headers,
  route: fastifyRoute,
  request: (request) => request.raw,
  rawHeaders: (request) => request.raw.rawHeaders,
  attach: (request, auth) => {
    request.portkey = auth
  },
  attached: (request) => request.portkey,
  setHeaders: (headers, _request, reply) => {
    reply.headers(headers)
  },
  next: (_request, _reply, done) => done(),
  send: (error, _request, reply) => void reply.code(error.status).headers(error.headers).send(errorBody(error)),
  fail: (error, _request, _reply, done) => done(error as Error),
}

type Dispatch = ReturnType<typeof createDispatch<FastifyRequest, FastifyReply, Done, unknown>>

/** What `portkeyAuth(options)` returns: a Fastify plugin, and `verifier`, the verifier it checks requests with. */
export type PortkeyAuthPlugin = FastifyPluginCallback & VerifierHandle

/**
 * Fastify plugin: admits requests with a valid Portkey credential and sets `request.portkey`; answers the
 * others with the error's status and JSON body. It guards the context that registers it: at the root every
 * route, in an encapsulated plugin that plugin's routes. Register it with its options, or call it with them
 * for a plugin that carries `verifier`, the verifier it uses.
 *
 * @example
 * ```ts
 * await app.register(portkeyAuth, { scopes: 'portkey' })
 * app.get('/v1/models', (request) => listModels(portkeyOf(request).workspaceId))
 *
 * const auth = portkeyAuth({ hideCredentials: true })
 * await app.register(auth)
 * await auth.verifier.invalidate(revokedKey)
 * ```
 */
export function portkeyAuth(options?: FastifyAuthOptions | Verifier): PortkeyAuthPlugin
export function portkeyAuth(
  instance: FastifyInstance,
  options: FastifyAuthOptions | Verifier,
  done: (error?: Error) => void,
): void
export function portkeyAuth(
  first?: FastifyInstance | FastifyAuthOptions | Verifier,
  options?: FastifyAuthOptions | Verifier,
  done?: (error?: Error) => void,
): PortkeyAuthPlugin | undefined {
  // Fastify calls a plugin with a `done` callback; a user calls the factory with the options alone.
  if (typeof done !== 'function') return plugin(createDispatch(ownOptions(first as FastifyAuthOptions | Verifier), FASTIFY))
  let dispatch: Dispatch
  try {
    dispatch = createDispatch(ownOptions(options), FASTIFY)
  } catch (error) {
    done(error as Error)
    return
  }
  install(first as FastifyInstance, dispatch)
  done()
}
asPlugin(portkeyAuth)

/** A plugin made by `portkeyAuth(options)`: its options are set, so `register()` may give Fastify's own alone. */
function plugin(dispatch: Dispatch): PortkeyAuthPlugin {
  const made: FastifyPluginCallback = function portkeyAuth(instance, options, done) {
    let extra: string[]
    try {
      extra = Object.keys(ownOptions(options) ?? {})
    } catch (error) {
      return done(error as Error)
    }
    if (extra.length > 0) {
      return done(new TypeError(`portkey-auth: pass ${extra.join(', ')} to portkeyAuth(options), not to register()`))
    }
    install(instance, dispatch)
    done()
  }
  return withVerifier(asPlugin(made), dispatch.verifier)
}

/** Adds the check to `instance`'s context: an onRequest hook, and `request.portkey`. */
function install(instance: FastifyInstance, dispatch: Dispatch): void {
  // Declared on the request, so that every request of the context has one shape, guarded or not.
  if (!instance.hasRequestDecorator('portkey')) instance.decorateRequest('portkey', undefined)
  // A callback hook, not an async one: a cached credential calls done() in this tick, with no promise.
  instance.addHook('onRequest', function portkeyAuth(request, reply, done) {
    const result = dispatch(request, reply, done)
    // An onError that throws after a look-up (or an async one that rejects) reaches the error handler.
    if (result instanceof Promise) result.catch(done)
  })
}

/**
 * Skip-override (what `fastify-plugin` sets): the hook goes into the context that registers the plugin —
 * at the root that is every route, in an encapsulated plugin that plugin's routes and its children's.
 * Without it, Fastify would give the hook a child context of its own, holding no route: it would guard nothing.
 */
function asPlugin<P extends object>(plugin: P): P {
  return Object.defineProperties(plugin, {
    [Symbol.for('skip-override')]: { value: true },
    [Symbol.for('fastify.display-name')]: { value: 'portkey-auth' },
    [Symbol.for('plugin-meta')]: { value: { name: 'portkey-auth', fastify: '^4.26.0 || ^5.0.0' } },
  })
}

/**
 * The plugin's options less those `register()` reads itself. `prefix` is refused: a plugin that guards the
 * context registering it has no prefix of its own. An `onError` is awaited only when it returns a promise (a
 * Fastify reply, which it may return, is thenable too).
 */
function ownOptions(options: FastifyAuthOptions | Verifier | undefined): FastifyAuthOptions | Verifier | undefined {
  if (typeof options !== 'object' || options === null) return options
  if ('prefix' in options) {
    throw new TypeError(
      'portkey-auth: portkeyAuth guards the context it is registered in, and takes no prefix: register it inside ' +
        "the plugin that has the prefix, e.g. app.register(async (v1) => { await v1.register(portkeyAuth); … }, { prefix: '/v1' })",
    )
  }
  const { onError, logLevel, logSerializers, ...own } = options as FastifyAuthOptions & Record<string, unknown>
  if (logLevel === undefined && logSerializers === undefined && typeof onError !== 'function') return options
  if (typeof onError !== 'function') return onError === undefined ? own : { ...own, onError }
  return {
    ...own,
    onError(error, request, reply) {
      const result = onError(error, request, reply)
      return result instanceof Promise ? result : undefined
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

export type { PortkeyAuth, Verifier, VerifierHandle }
