import type { Context, MiddlewareHandler, Next } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { createDispatch, createPermissionCheck, type Framework, type VerifierHandle, withVerifier } from '../adapters/dispatch.js'
import type { MiddlewareOptions } from '../adapters/middleware-options.js'
import { contextOrThrow } from '../adapters/portkey-of.js'
import { type AuthError, errorBody } from '../errors.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { IncomingHeaders, PortkeyAuth } from '../types.js'
import type { Verifier } from '../verifier/verifier.js'
import { requestRoute } from '../adapters/request-route.js'
import { credentialViews, nodeRequest } from './hide-credential.js'

/**
 * The Hono environment `portkeyAuth()` adds: `c.get('portkey')` (and `c.var.portkey`) typed `PortkeyAuth`.
 * `new Hono<PortkeyEnv>()` types it for every handler, `app.use(portkeyAuth())` for those chained after it:
 * use it where the guard runs; elsewhere read the context with `portkeyOf(c)`, which throws when it is absent.
 */
export type PortkeyEnv = {
  Variables: {
    /** The caller's Portkey context. */
    portkey: PortkeyAuth
  }
}

/**
 * Takes over the response to a rejected request (from `portkeyAuth()` and the `requirePermissions()` after
 * it): return the `Response`. `(error) => { throw error }` hands it to `app.onError()` instead; the error
 * carries `status`, `headers` and a stable `code`.
 */
export type HonoErrorHandler = (error: AuthError, c: Context) => Response | Promise<Response>

/**
 * Options of the Hono middleware. `hideCredentials` removes the key from `c.req.raw` (and, under
 * @hono/node-server, from Node's request in `c.env.incoming`).
 */
export type HonoAuthOptions = MiddlewareOptions<HonoErrorHandler>

type Answer = MaybePromise<Response | undefined>

const nothing = (): undefined => undefined

const HONO: Framework<Context, Next, undefined, Answer> = {
  // On @hono/node-server, Node's own header object: reading c.req.raw.headers there builds a whole Web
  // Headers per request (the bench measured ~10 µs). Elsewhere the Web Headers as it is (a repeated
  // header joined with ', ', refused as Node's join is).
  headers: (c) => (nodeRequest(c.env)?.headers as IncomingHeaders | undefined) ?? c.req.raw.headers,
  // The raw path of c.req.url: the one Hono routes on, before its getPath decodes it.
  route: (c) => requestRoute(c.req.raw),
  // For hideCredentials: views whose deletions reach c.req.raw and, on Node, c.env.incoming.
  request: credentialViews,
  // Under @hono/node-server the headers read are Node's, which keep only the first Authorization.
  rawHeaders: (c) => nodeRequest(c.env)?.rawHeaders,
  attach: (c, auth) => {
    c.set('portkey', auth)
  },
  attached: (c) => c.get('portkey') as PortkeyAuth | undefined,
  setHeaders: (headers, c) => {
    c.header('ratelimit-policy', headers['ratelimit-policy'])
    c.header('ratelimit', headers.ratelimit)
  },
  // Hono's next() resolves to the context, which a middleware must not return as its response.
  next: (_c, next) => next().then(nothing),
  send: (error, c) => c.json(errorBody(error), error.status as ContentfulStatusCode, error.headers as Record<string, string>),
  fail: (error) => {
    throw error
  },
}

/** What `portkeyAuth()` returns: a Hono middleware, and `verifier`, the verifier it checks requests with. */
export type PortkeyAuthMiddleware = MiddlewareHandler<PortkeyEnv> & VerifierHandle

/**
 * Hono middleware: admits requests with a valid Portkey credential and sets `c.get('portkey')`; answers the
 * others with the error's status, headers and JSON body. `auth.verifier` is the verifier it uses.
 *
 * @example
 * ```ts
 * const auth = portkeyAuth()
 * const app = new Hono<PortkeyEnv>().use('/v1/*', auth)
 * app.post('/v1/chat/completions', (c) => c.json({ workspace: c.get('portkey').workspaceId }))
 * await auth.verifier.invalidate(revokedKey)
 * ```
 */
export function portkeyAuth(options?: HonoAuthOptions | Verifier): PortkeyAuthMiddleware {
  const dispatch = createDispatch(options as MiddlewareOptions<Framework<Context, Next, undefined, Answer>['send']>, HONO)
  // Not async: a promise passes through as it is, and a throw reaches app.onError() through Hono's compose.
  const portkeyAuth: MiddlewareHandler<PortkeyEnv> = function portkeyAuth(c, next) {
    return Promise.resolve(dispatch(c, next, undefined))
  }
  return withVerifier(portkeyAuth, dispatch.verifier)
}

/**
 * Route middleware after `portkeyAuth()`: passes when the caller holds every one of `scopes`, else
 * answers 403 `insufficient_scope` (through `portkeyAuth()`'s `onError`). Without `portkeyAuth()` before
 * it, it answers 500 rather than pass.
 *
 * @example app.get('/v1/logs', requirePermissions('logs.read'), (c) => c.json(listLogs(c.get('portkey'))))
 */
export function requirePermissions(...scopes: string[]): MiddlewareHandler<PortkeyEnv> {
  const check = createPermissionCheck(scopes, HONO)
  return function requirePermissions(c, next) {
    return Promise.resolve(check(c, next, undefined))
  }
}

/**
 * The caller's context on a route behind `portkeyAuth()`: `c.get('portkey')`, typed as present, from any Hono
 * context. Where it is absent (a route the middleware does not guard, one of its `publicRoutes`) it throws the
 * 500 `auth_misconfigured` `AuthError` to `app.onError()`, as `requirePermissions()` answers there.
 *
 * @example app.get('/v1/models', (c) => c.json(listModels(portkeyOf(c).workspaceId)))
 */
export function portkeyOf(c: Context): PortkeyAuth {
  return contextOrThrow(c.get('portkey') as PortkeyAuth | undefined)
}

export type { PortkeyAuth, Verifier, VerifierHandle }
