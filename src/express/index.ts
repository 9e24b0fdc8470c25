import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { hideCredential } from '../credential/header.js'
import { AuthError, errorBody } from '../errors.js'
import { type MiddlewareOptions, middlewareConfig } from '../adapters/middleware-options.js'
import { scopeGuard } from '../permissions/route-scopes.js'
import type { PortkeyAuth } from '../types.js'
import type { RequestRoute, Verifier } from '../verifier/create-verifier.js'

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The caller's Portkey context, set by `portkeyAuth()`; absent on routes it does not guard. */
      portkey: PortkeyAuth
    }
  }
}

/**
 * Takes over the response to a rejected request. `(error, req, res, next) => next(error)` hands it to
 * your Express error handler instead; the error carries `status`, `headers` and `expose`.
 */
export type ExpressErrorHandler = (error: AuthError, req: Request, res: Response, next: NextFunction) => void

/** Options of the Express middleware. */
export type ExpressAuthOptions = MiddlewareOptions<ExpressErrorHandler>

/**
 * Express middleware: admits requests with a valid Portkey credential and sets `req.portkey`;
 * answers the others with the error's status and JSON body.
 *
 * @example
 * ```ts
 * app.use(portkeyAuth())
 * app.post('/v1/chat/completions', (req, res) => res.json({ workspace: req.portkey.workspaceId }))
 * ```
 */
export function portkeyAuth(options?: ExpressAuthOptions | Verifier): RequestHandler {
  const { verifier, hideCredentials, onError = sendError } = middlewareConfig(options)
  const admit = (req: Request, next: NextFunction, auth: PortkeyAuth) => {
    req.portkey = auth
    if (hideCredentials) hideCredential(req)
    next()
  }
  // Hidden on refusal too: an error handler that logs or forwards the request must not leak the key.
  const refuse = (error: unknown, req: Request, res: Response, next: NextFunction) => {
    if (hideCredentials) hideCredential(req)
    return error instanceof AuthError ? onError(error, req, res, next) : next(error)
  }

  return function portkeyAuth(req, res, next) {
    let result: PortkeyAuth | Promise<PortkeyAuth>
    try {
      result = verifier.check(req.headers, verifier.routed ? route(req) : undefined)
    } catch (error) {
      return refuse(error, req, res, next)
    }
    // A cached credential is answered in this tick; only a look-up goes through a promise.
    if (!(result instanceof Promise)) return admit(req, next, result)
    result.then(
      (auth) => admit(req, next, auth),
      (error: unknown) => refuse(error, req, res, next),
    )
      // An onError that throws (the Koa habit) reaches the app's error handler instead of hanging the request.
      .catch(next)
  }
}

/**
 * The full path the router routes on: the mount path and the parsed path below it (no query, no
 * fragment, no scheme and host of an absolute-form target). A target Node cannot parse gives `''`,
 * which the scope map refuses.
 */
function route(req: Request): RequestRoute {
  const path: unknown = req.path
  return { method: req.method, path: typeof path === 'string' ? req.baseUrl + path : '' }
}

/**
 * Route middleware after `portkeyAuth()`: passes when the caller holds every one of `scopes`, else
 * answers 403 `insufficient_scope`. Without `portkeyAuth()` before it, it answers 500 rather than pass.
 *
 * @example app.get('/v1/logs', requirePermissions('logs.read'), listLogs)
 */
export function requirePermissions(...scopes: string[]): RequestHandler {
  const guard = scopeGuard(scopes)
  return function requirePermissions(req, res, next) {
    const error = guard(req.portkey as PortkeyAuth | undefined)
    if (error === null) next()
    else sendError(error, req, res)
  }
}

function sendError(error: AuthError, _req: Request, res: Response): void {
  res.status(error.status).set(error.headers).json(errorBody(error))
}

export type { PortkeyAuth, Verifier }
