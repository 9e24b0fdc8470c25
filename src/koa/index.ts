/**
 * Koa (2 and 3): `portkeyAuth()`, a middleware that sets `ctx.state.portkey` (and, for a rate-limited key,
 * `ctx.state.portkeyQuota`), and `requirePermissions()` after it.
 * @packageDocumentation
 */

import type { Middleware, Next, ParameterizedContext } from 'koa'
import { SERVER_FEATURES } from '../adapters/server-features.js'
import { createDispatch, createPermissionCheck, type Framework, type VerifierHandle, withVerifier } from '../adapters/dispatch.js'
import type { MiddlewareOptions } from '../adapters/middleware-options.js'
import { contextOrThrow } from '../adapters/portkey-of.js'
import { type AuthError, errorBody } from '../errors.js'
import type { PortkeyAuth, Quota, RequestRoute } from '../types.js'
import type { Verifier } from '../verifier/verifier.js'

/**
 * The Koa state `portkeyAuth()` adds: `ctx.state.portkey`. Opt-in: type a handler `Middleware<PortkeyState>`
 * (or use it after `app.use(portkeyAuth())`) only where `portkeyAuth()` runs before it; elsewhere read the
 * context with `portkeyOf(ctx)`, which throws when it is absent.
 */
export interface PortkeyState {
  /** The caller's Portkey context. */
  portkey: PortkeyAuth
  /** This request's standing against its rate limits, when a limit applies: `quotaOf(ctx)` reads it, or `null`. */
  portkeyQuota?: Quota
}

/**
 * Takes over the response to a rejected request (from `portkeyAuth()` and the `requirePermissions()` after
 * it). `(error) => { throw error }` hands it to Koa's error handling instead; the error carries `status`,
 * `headers` and `expose`.
 */
export type KoaErrorHandler = (error: AuthError, ctx: ParameterizedContext) => void | Promise<void>

/** Options of the Koa middleware. */
export type KoaAuthOptions = MiddlewareOptions<KoaErrorHandler>

type Context = ParameterizedContext<PortkeyState>

const KOA: Framework<Context, Next, undefined, unknown> = {
  // Node's object, which `ctx.headers` returns too: Koa's delegated getter reads it through two megamorphic
  // keyed loads (one getter serves every delegated name), a cost on every request.
  headers: (ctx) => ctx.req.headers,
  route,
  request: (ctx) => ctx.req,
  rawHeaders: (ctx) => ctx.req.rawHeaders,
  attach: (ctx, auth, quota) => {
    ctx.state.portkey = auth
    if (quota !== null) ctx.state.portkeyQuota = quota
  },
  attached: (ctx) => ctx.state.portkey as PortkeyAuth | undefined,
  attachedQuota: quotaOf,
  // Node's response directly: ctx.set() would walk the object and re-check each value.
  setHeaders: (headers, ctx) => {
    ctx.res.setHeader('ratelimit-policy', headers['ratelimit-policy'])
    ctx.res.setHeader('ratelimit', headers.ratelimit)
  },
  next: (_ctx, next) => next(),
  send: (error, ctx) => {
    ctx.status = error.status
    ctx.set(error.headers as Record<string, string>)
    ctx.body = errorBody(error)
  },
  fail: (error) => {
    throw error
  },
}

/** What `portkeyAuth()` returns: a Koa middleware, and `verifier`, the verifier it checks requests with. */
export type PortkeyAuthMiddleware = Middleware<PortkeyState> & VerifierHandle

/**
 * Koa middleware: admits requests with a valid Portkey credential and sets `ctx.state.portkey`;
 * answers the others with the error's status and JSON body. `auth.verifier` is the verifier it uses.
 *
 * @example
 * ```ts
 * const auth = portkeyAuth()
 * const app = new Koa().use(auth)
 * app.use((ctx) => { ctx.body = { workspace: ctx.state.portkey.workspaceId } })
 * await auth.verifier.invalidate(revokedKey)
 * ```
 */
export function portkeyAuth(options?: KoaAuthOptions | Verifier): PortkeyAuthMiddleware {
  const dispatch = createDispatch(
    options as MiddlewareOptions<Framework<Context, Next, undefined, unknown>['send']>,
    KOA,
    SERVER_FEATURES,
  )
  // Not async: a cached credential goes on to next() in this tick, with no promise of its own.
  const portkeyAuth: Middleware<PortkeyState> = function portkeyAuth(ctx, next) {
    return dispatch(ctx, next, undefined)
  }
  return withVerifier(portkeyAuth, dispatch.verifier)
}

/**
 * Route middleware after `portkeyAuth()`: passes when the caller holds every one of `scopes`, else
 * answers 403 `insufficient_scope` (through `portkeyAuth()`'s `onError`). Without `portkeyAuth()` before
 * it, it answers 500 rather than pass.
 *
 * @example router.get('/v1/logs', requirePermissions('logs.read'), listLogs)
 */
export function requirePermissions(...scopes: string[]): Middleware<PortkeyState> {
  const check = createPermissionCheck(scopes, KOA)
  return function requirePermissions(ctx, next) {
    return check(ctx, next, undefined)
  }
}

/**
 * The path routers route on: `ctx.path`, parsed (no query, no fragment, no scheme and host of an
 * absolute-form target); under koa-mount, the original target's when `ctx.path` is a tail of it (the
 * scope map may name the mount prefix). A target that cannot be parsed gives `''`, which the map refuses.
 */
function route(ctx: Context): RequestRoute {
  let path: unknown
  try {
    path = ctx.path
    if (ctx.url !== ctx.originalUrl) {
      const original: unknown = Reflect.get(Object.getPrototypeOf(ctx.request) as object, 'path', {
        req: { url: ctx.originalUrl },
      })
      if (typeof original === 'string' && original.endsWith(path as string)) path = original
    }
  } catch {
    // parseurl throws on some targets (a bad IPv6 host); fail closed below.
  }
  return { method: ctx.method, path: typeof path === 'string' ? path : '' }
}

/**
 * The caller's context on a route behind `portkeyAuth()`: `ctx.state.portkey`, typed as present, from any Koa
 * context. Where it is absent (a route the middleware does not guard, one of its `publicRoutes`) it throws the
 * 500 `auth_misconfigured` `AuthError` to Koa's error handling, as `requirePermissions()` answers there.
 *
 * @example router.get('/v1/models', (ctx) => { ctx.body = listModels(portkeyOf(ctx).workspaceId) })
 */
export function portkeyOf(ctx: { readonly state: object }): PortkeyAuth {
  return contextOrThrow((ctx.state as Partial<PortkeyState>).portkey)
}

/**
 * This request's standing against its key's (and virtual key's) rate limits, beside its context
 * (`ctx.state.portkeyQuota`): what is left, when the window resets, `reportTokens()`. `null` when no limit applies
 * (or with `rateLimits: false`), and where `portkeyAuth()` did not run.
 *
 * @example await quotaOf(ctx)?.reportTokens(completion.usage.total_tokens)
 */
export function quotaOf(ctx: { readonly state: object }): Quota | null {
  return (ctx.state as Partial<PortkeyState>).portkeyQuota ?? null
}

export type { PortkeyAuth, Quota, Verifier, VerifierHandle }
