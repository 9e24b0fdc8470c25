/**
 * Express (4 and 5): `portkeyAuth()`, a middleware that sets `req.portkey` (and, for a rate-limited key,
 * `req.portkeyQuota`), and `requirePermissions()` after it.
 * @packageDocumentation
 */

import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { SERVER_FEATURES } from '../adapters/server-features.js'
import { createDispatch, createPermissionCheck, type Framework, type VerifierHandle, withVerifier } from '../adapters/dispatch.js'
import type { MiddlewareOptions } from '../adapters/middleware-options.js'
import { contextOrThrow } from '../adapters/portkey-of.js'
import { type AuthError, errorBody } from '../errors.js'
import type { PortkeyAuth, Quota } from '../types.js'
import type { Verifier } from '../verifier/verifier.js'

declare global {
  namespace Express {
    interface Request {
      /**
       * The caller's Portkey context, set by `portkeyAuth()`; absent on routes it does not guard (and on its
       * `publicRoutes`). `portkeyOf(req)` reads it as `PortkeyAuth`, or throws if it is absent.
       */
      portkey?: PortkeyAuth
      /**
       * This request's standing against its rate limits, set by `portkeyAuth()` beside `portkey` when a limit
       * applies. `quotaOf(req)` reads it, or `null`.
       */
      portkeyQuota?: Quota
    }
  }
}

/**
 * Takes over the response to a rejected request (from `portkeyAuth()` and the `requirePermissions()` after
 * it). `(error, req, res, next) => next(error)` hands it to your Express error handler instead; the error
 * carries `status`, `headers` and `expose`.
 */
export type ExpressErrorHandler = (error: AuthError, req: Request, res: Response, next: NextFunction) => void

/** Options of the Express middleware. */
export type ExpressAuthOptions = MiddlewareOptions<ExpressErrorHandler>

const EXPRESS: Framework<Request, Response, NextFunction, void> = {
  headers: (req) => req.headers,
  // The mount path and the parsed path below it; a target Node cannot parse gives '', which the map refuses.
  route: (req) => ({ method: req.method, path: typeof req.path === 'string' ? req.baseUrl + req.path : '' }),
  request: (req) => req,
  rawHeaders: (req) => req.rawHeaders,
  // Own enumerable properties, which handlers see as such (test/express/request-properties.test.ts). Each costs about
  // 14,000 instructions (issue 26): Express swaps the request's prototype, so V8 copies its hidden class for every
  // property added after that. A WeakMap behind an accessor on app.request costs about a fifth of that, but makes them
  // inherited: `'portkey' in req` true on routes the guard never ran for, absent from Object.keys() and spreads,
  // `delete` without effect, and (on a sub-app's app.request) gone in the parent's routes after it. Measured, declined.
  attach: (req, auth, quota) => {
    req.portkey = auth
    if (quota !== null) req.portkeyQuota = quota
  },
  attached: (req) => req.portkey,
  attachedQuota: quotaOf,
  setHeaders: (headers, _req, res) => {
    res.setHeader('ratelimit-policy', headers['ratelimit-policy'])
    res.setHeader('ratelimit', headers.ratelimit)
  },
  next: (_req, _res, next) => next(),
  send: (error, _req, res) => void res.status(error.status).set(error.headers).json(errorBody(error)),
  fail: (error, _req, _res, next) => next(error),
}

/** What `portkeyAuth()` returns: an Express middleware, and `verifier`, the verifier it checks requests with. */
export type PortkeyAuthHandler = RequestHandler & VerifierHandle

/**
 * Express middleware: admits requests with a valid Portkey credential and sets `req.portkey`;
 * answers the others with the error's status and JSON body. `auth.verifier` is the verifier it uses.
 *
 * @example
 * ```ts
 * const auth = portkeyAuth()
 * app.use(auth)
 * app.post('/v1/chat/completions', (req, res) => res.json({ workspace: portkeyOf(req).workspaceId }))
 * await auth.verifier.invalidate(revokedKey)
 * ```
 */
export function portkeyAuth(options?: ExpressAuthOptions | Verifier): PortkeyAuthHandler {
  const dispatch = createDispatch(options, EXPRESS, SERVER_FEATURES)
  const portkeyAuth: RequestHandler = function portkeyAuth(req, res, next) {
    const done = dispatch(req, res, next)
    // An onError that throws (the Koa habit) reaches the app's error handler instead of hanging the request.
    if (done instanceof Promise) done.catch(next)
  }
  return withVerifier(portkeyAuth, dispatch.verifier)
}

/**
 * Route middleware after `portkeyAuth()`: passes when the caller holds every one of `scopes`, else
 * answers 403 `insufficient_scope` (through `portkeyAuth()`'s `onError`). Without `portkeyAuth()` before
 * it, it answers 500 rather than pass.
 *
 * @example app.get('/v1/logs', requirePermissions('logs.read'), listLogs)
 */
export function requirePermissions(...scopes: string[]): RequestHandler {
  const check = createPermissionCheck(scopes, EXPRESS)
  return function requirePermissions(req, res, next) {
    check(req, res, next)
  }
}

/**
 * The caller's context on a route behind `portkeyAuth()`: `req.portkey`, typed as present. Where it is absent
 * (a route the middleware does not guard, one of its `publicRoutes`) it throws the 500 `auth_misconfigured`
 * `AuthError` to your error handler, as `requirePermissions()` answers there, rather than serve the request.
 *
 * @example app.get('/v1/models', (req, res) => res.json(listModels(portkeyOf(req).workspaceId)))
 */
export function portkeyOf(req: { readonly portkey?: PortkeyAuth | undefined }): PortkeyAuth {
  return contextOrThrow(req.portkey)
}

/**
 * This request's standing against its key's (and virtual key's) rate limits, beside its context: what is left,
 * when the window resets, `reportTokens()`. `null` when no limit applies (or with `rateLimits: false`), and where
 * `portkeyAuth()` did not run.
 *
 * @example await quotaOf(req)?.reportTokens(completion.usage.total_tokens)
 */
export function quotaOf(req: { readonly portkeyQuota?: Quota | undefined }): Quota | null {
  return req.portkeyQuota ?? null
}

export type { PortkeyAuth, Quota, Verifier, VerifierHandle }
