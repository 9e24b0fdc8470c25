import type { Middleware, Next, ParameterizedContext } from 'koa'
import { hideCredential } from '../credential/header.js'
import { AuthError, errorBody } from '../errors.js'
import { type MiddlewareOptions, middlewareConfig } from '../adapters/middleware-options.js'
import { scopeGuard } from '../permissions/route-scopes.js'
import type { PortkeyAuth } from '../types.js'
import type { RequestRoute, Verifier } from '../verifier/create-verifier.js'

/** The Koa state `portkeyAuth()` adds: `ctx.state.portkey`. */
export interface PortkeyState {
  /** The caller's Portkey context. */
  portkey: PortkeyAuth
}

/**
 * Takes over the response to a rejected request. `(error) => { throw error }` hands it to Koa's error
 * handling instead; the error carries `status`, `headers` and `expose`.
 */
export type KoaErrorHandler = (error: AuthError, ctx: ParameterizedContext) => void | Promise<void>

/** Options of the Koa middleware. */
export type KoaAuthOptions = MiddlewareOptions<KoaErrorHandler>

/**
 * Koa middleware: admits requests with a valid Portkey credential and sets `ctx.state.portkey`;
 * answers the others with the error's status and JSON body.
 *
 * @example
 * ```ts
 * const app = new Koa().use(portkeyAuth())
 * app.use((ctx) => { ctx.body = { workspace: ctx.state.portkey.workspaceId } })
 * ```
 */
export function portkeyAuth(options?: KoaAuthOptions | Verifier): Middleware<PortkeyState> {
  const { verifier, hideCredentials, onError = sendError } = middlewareConfig(options)
  const admit = (ctx: ParameterizedContext<PortkeyState>, next: Next, auth: PortkeyAuth) => {
    ctx.state.portkey = auth
    if (hideCredentials) hideCredential(ctx.req)
    return next()
  }
  // Hidden on refusal too: an error handler that logs or forwards the request must not leak the key.
  const refuse = (error: unknown, ctx: ParameterizedContext) => {
    if (hideCredentials) hideCredential(ctx.req)
    if (error instanceof AuthError) return onError(error, ctx)
    throw error
  }

  // Not async: a cached credential goes on to next() in this tick, with no promise of its own.
  return function portkeyAuth(ctx, next) {
    let result: PortkeyAuth | Promise<PortkeyAuth>
    try {
      result = verifier.check(ctx.headers, verifier.routed ? route(ctx) : undefined)
    } catch (error) {
      return refuse(error, ctx)
    }
    if (!(result instanceof Promise)) return admit(ctx, next, result)
    return result.then(
      (auth) => admit(ctx, next, auth),
      (error: unknown) => refuse(error, ctx),
    )
  }
}

/**
 * The path routers route on: `ctx.path`, parsed (no query, no fragment, no scheme and host of an
 * absolute-form target). A target that cannot be parsed gives `''`, which the scope map refuses.
 */
function route(ctx: ParameterizedContext): RequestRoute {
  let path: unknown
  try {
    path = ctx.url === ctx.originalUrl ? ctx.path : mountedPath(ctx)
  } catch {
    // parseurl throws on some targets (a bad IPv6 host); fail closed below.
  }
  return { method: ctx.method, path: typeof path === 'string' ? path : '' }
}

/**
 * Under koa-mount, ctx.path has lost the mount prefix, which the scope map may name: check the original
 * target, parsed by the same getter, when ctx.path is a tail of it (tails are checked too). Any other
 * rewrite is checked as routers will see it.
 */
function mountedPath(ctx: ParameterizedContext): string {
  const path = ctx.path
  const original: unknown = Reflect.get(Object.getPrototypeOf(ctx.request) as object, 'path', { req: { url: ctx.originalUrl } })
  return typeof original === 'string' && original.endsWith(path) ? original : path
}

/**
 * Route middleware after `portkeyAuth()`: passes when the caller holds every one of `scopes`, else
 * answers 403 `insufficient_scope`. Without `portkeyAuth()` before it, it answers 500 rather than pass.
 *
 * @example router.get('/v1/logs', requirePermissions('logs.read'), listLogs)
 */
export function requirePermissions(...scopes: string[]): Middleware<PortkeyState> {
  const guard = scopeGuard(scopes)
  return async function requirePermissions(ctx, next) {
    const error = guard(ctx.state.portkey as PortkeyAuth | undefined)
    if (error !== null) return sendError(error, ctx)
    await next()
  }
}

function sendError(error: AuthError, ctx: ParameterizedContext): void {
  ctx.status = error.status
  ctx.set(error.headers as Record<string, string>)
  ctx.body = errorBody(error)
}

export type { PortkeyAuth, Verifier }
