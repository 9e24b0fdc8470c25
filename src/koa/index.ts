import type { Middleware, ParameterizedContext } from 'koa'
import { hideCredential } from '../core/credential.js'
import { AuthError, errorBody } from '../core/errors.js'
import { type MiddlewareOptions, middlewareConfig } from '../core/middleware.js'
import { scopeGuard } from '../core/permissions.js'
import type { PortkeyAuth } from '../core/types.js'
import type { Verifier } from '../core/verifier.js'

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
  return async function portkeyAuth(ctx, next) {
    let auth: PortkeyAuth
    try {
      // The original URL, not ctx.path, which koa-mount shortens: scope maps name full paths.
      const url = ctx.originalUrl
      const query = url.indexOf('?')
      auth = await verifier.verify(ctx.headers, { method: ctx.method, path: query === -1 ? url : url.slice(0, query) })
    } catch (error) {
      if (error instanceof AuthError) return onError(error, ctx)
      throw error
    }
    ctx.state.portkey = auth
    if (hideCredentials) hideCredential(ctx.req.headers, ctx.req.rawHeaders)
    await next()
  }
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
