/**
 * Hono (4): `portkeyAuth()`, a middleware that sets `c.get('portkey')` (and, for a rate-limited key,
 * `c.get('portkeyQuota')`), and `requirePermissions()` after it.
 * @packageDocumentation
 */

import type { Context, MiddlewareHandler, Next } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { SERVER_FEATURES } from '../adapters/server-features.js'
import { createDispatch, createPermissionCheck, type Framework, type VerifierHandle, withVerifier } from '../adapters/dispatch.js'
import type { MiddlewareOptions } from '../adapters/middleware-options.js'
import { contextOrThrow } from '../adapters/portkey-of.js'
import { type AuthError, errorBody } from '../errors.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { PortkeyAuth, Quota, RequestRoute } from '../types.js'
import type { Verifier } from '../verifier/verifier.js'
import { requestRoute } from '../adapters/request-route.js'
import { getPath } from 'hono/utils/url'
import { honoHeaders, nodeRequest } from '#hono-node-request'
import { credentialViews } from './hide-credential.js'

/**
 * The Hono environment `portkeyAuth()` adds: `c.get('portkey')` (and `c.var.portkey`) typed `PortkeyAuth`.
 * `new Hono<PortkeyEnv>()` types it for every handler, `app.use(portkeyAuth())` for those chained after it:
 * use it where the guard runs; elsewhere read the context with `portkeyOf(c)`, which throws when it is absent.
 */
export type PortkeyEnv = {
  Variables: {
    /** The caller's Portkey context. */
    portkey: PortkeyAuth
    /** This request's standing against its rate limits, when a limit applies: `quotaOf(c)` reads it, or `null`. */
    portkeyQuota?: Quota
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
 * `@hono/node-server`, from Node's request in `c.env.incoming`).
 */
export type HonoAuthOptions = MiddlewareOptions<HonoErrorHandler>

/** What the middleware returns to Hono: the rejection's response, or what `next()` gave. */
type Result = MaybePromise<Response | undefined>

const nothing = (): undefined => undefined

const HONO: Framework<Context, Next, undefined, Result> = {
  // What the app sees, c.req.raw's headers; on @hono/node-server Node's own object while the app has not
  // touched them (building the Web Headers costs ~10 µs). A Web Headers joins a repeated header with ', ',
  // refused as Node's join is.
  headers: honoHeaders,
  route: honoRoute,
  // For hideCredentials: views whose deletions reach c.req.raw and, on Node, c.env.incoming.
  request: credentialViews,
  // Under @hono/node-server the headers read are Node's, which keep only the first Authorization.
  rawHeaders: (c) => nodeRequest(c.env)?.rawHeaders,
  attach: (c, auth, quota) => {
    c.set('portkey', auth)
    if (quota !== null) c.set('portkeyQuota', quota)
  },
  attached: (c) => c.get('portkey') as PortkeyAuth | undefined,
  attachedQuota: quotaOf,
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

/**
 * The method and the path the router dispatched on. The raw path of `c.req.raw.url` (nothing decoded, so the
 * scope map can refuse what routers read differently) while it is the one Hono routed: it decodes to
 * `c.req.path` (or, with `strict: false`, to it plus a trailing slash). When it is not — a middleware put
 * another `Request` in `c.req.raw`, or the app routes with its own `getPath` — `c.req.path`, the route the
 * router chose.
 */
function honoRoute(c: Context): RequestRoute {
  const route = requestRoute(c.req.raw)
  const routed = c.req.path
  // '' (no path the scope map can read) stays refused.
  if (route.path === routed || route.path === '') return route
  const decoded = route.path.includes('%') ? getPath(c.req.raw) : route.path
  if (decoded === routed || decoded === `${routed}/`) return route
  return { method: route.method, path: routed }
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
  const dispatch = createDispatch(
    options as MiddlewareOptions<Framework<Context, Next, undefined, Result>['send']>,
    HONO,
    SERVER_FEATURES,
  )
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

/**
 * This request's standing against its key's (and virtual key's) rate limits, beside its context
 * (`c.get('portkeyQuota')`): what is left, when the window resets, `reportTokens()`. `null` when no limit applies
 * (or with `rateLimits: false`), and where `portkeyAuth()` did not run.
 *
 * @example await quotaOf(c)?.reportTokens(completion.usage.total_tokens)
 */
export function quotaOf(c: Context): Quota | null {
  return (c.get('portkeyQuota') as Quota | undefined) ?? null
}

export type { PortkeyAuth, Quota, Verifier, VerifierHandle }
