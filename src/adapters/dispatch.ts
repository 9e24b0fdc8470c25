import { AUTHORIZATION_HEADER, CREDENTIAL_HEADER, repeatsAuthorization } from '../credential/header.js'
import { AuthError, invalidRequest } from '../errors.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { Middleware } from '../options/names.js'
import { scopeGuard } from '../permissions/require.js'
import { RequestQuota } from '../rate-limit/quota.js'
import type { CheckStatus, IncomingHeaders, PortkeyAuth, Quota, RateLimitHeaders } from '../types.js'
import type { RequestRoute, Verifier } from '../verifier/verifier.js'
import { type HeaderViews, hideCredential } from './hide-credential.js'
import { type MiddlewareOptions, middlewareConfig } from './middleware-options.js'

/**
 * What an adapter tells the shared dispatch about its framework: how to read a request, attach the
 * context, go on, and answer. A middleware's arguments are `(a, b, c)`: `(req, res, next)` in Express,
 * `(ctx, next)` in Koa; `R` is what it returns.
 */
export interface Framework<A, B, C, R> {
  /** The request's headers (names lower-cased). */
  headers(a: A): IncomingHeaders | Headers
  /** The method and the path routers route on; read only when a scope map needs it. */
  route(a: A): RequestRoute
  /** Node's request, whose header views `hideCredentials` empties of the credential. */
  request(a: A): HeaderViews
  /**
   * Node's raw header lines (`rawHeaders`), to refuse a repeated `Authorization` that `headers` keeps only the
   * first of; `undefined` where the headers are a Web `Headers`, which joins repeats with ', '. Read only when
   * the credential would come from `Authorization`.
   */
  rawHeaders(a: A): readonly string[] | undefined
  /**
   * Where the context lives (`req.portkey`, `ctx.state.portkey`), and beside it the request's quota, when it has
   * one (`req.portkeyQuota`, `ctx.state.portkeyQuota`).
   */
  attach(a: A, auth: PortkeyAuth, quota: Quota | null): void
  /** The context `portkeyAuth()` attached, for `requirePermissions()`; `undefined` when it did not run. */
  attached(a: A): PortkeyAuth | undefined
  /** The quota `portkeyAuth()` attached, for `requirePermissions()` to give back when it refuses; else `null`. */
  attachedQuota(a: A): Quota | null
  /** Adds `RateLimit-Policy` and `RateLimit` to the response of an admitted request (one with a quota). */
  setHeaders(headers: RateLimitHeaders, a: A, b: B): void
  /** Goes on to the next handler. */
  next(a: A, b: B, c: C): R
  /** The default answer to a rejection: its status, headers and JSON body. */
  send(error: AuthError, a: A, b: B, c: C): R
  /** Hands an error that is no `AuthError` (a bug) to the framework's error handling. */
  fail(error: unknown, a: A, b: B, c: C): R
}

type OnError<A, B, C, R> = (error: AuthError, a: A, b: B, c: C) => R

/**
 * What the middleware of `portkeyAuth()` (Express, Koa, Hono) and a handler wrapped by `withPortkeyAuth()` (Web)
 * carry: the verifier they check requests with. The Fastify plugin decorates `app.portkeyVerifier` instead.
 */
export interface VerifierHandle {
  /** The verifier this middleware uses (the one passed in, if any): `invalidate()`, `stats()`, `probe()`… */
  readonly verifier: Verifier
}

/** Sets `middleware.verifier`, read-only, and returns the middleware typed with it. */
export function withVerifier<M extends object>(middleware: M, verifier: Verifier): M & VerifierHandle {
  return Object.defineProperty(middleware, 'verifier', { value: verifier, enumerable: true }) as M & VerifierHandle
}

// Where portkeyAuth() leaves the app's onError, so that requirePermissions() after it answers the same way.
const ON_ERROR = Symbol('portkey-auth.onError')

/**
 * The body of every adapter's `portkeyAuth()`: pass a public route on unchecked, else check the request,
 * then admit (attach, go on) or refuse (`onError`, else the default answer), synchronously for a cached
 * credential. With `hideCredentials` the credential leaves the request on every outcome. `middleware` says whose
 * options these are (by default Express's, Koa's and Hono's), for the did-you-mean of a misspelt one.
 */
export function createDispatch<A extends object, B, C, R>(
  options: MiddlewareOptions<OnError<A, B, C, R>> | MiddlewareOptions['verifier'],
  framework: Framework<A, B, C, R>,
  middleware?: Middleware,
): ((a: A, b: B, c: C) => MaybePromise<R>) & VerifierHandle {
  const { verifier, hideCredentials, onError, isPublic } = middlewareConfig(options, middleware)
  const answer = onError ?? framework.send
  // Whether Authorization may carry the credential, so hideCredentials removes it then (a verifier made
  // elsewhere without the field reads it, as the default does).
  const bearer = verifier.bearer !== false
  // Whether a request may have a quota, so needs a status to carry it (a verifier made elsewhere without the
  // field may, as the default does).
  const limited = verifier.limited !== false
  // A public route goes on as an admitted request does, minus the context.
  const pass = (a: A, b: B, c: C): R => {
    if (onError !== undefined) (a as Record<symbol, unknown>)[ON_ERROR] = onError
    if (hideCredentials) hideCredential(framework.request(a), bearer)
    return framework.next(a, b, c)
  }
  const admit = (auth: PortkeyAuth, quota: Quota | null | undefined, a: A, b: B, c: C): R => {
    // A verifier made elsewhere (a test double) may leave the status as it was made.
    framework.attach(a, auth, quota ?? null)
    const headers = quota?.headers
    if (headers != null) framework.setHeaders(headers, a, b)
    return pass(a, b, c)
  }
  const refuse = (error: unknown, a: A, b: B, c: C): R => {
    if (hideCredentials) hideCredential(framework.request(a), bearer)
    return error instanceof AuthError ? answer(error, a, b, c) : framework.fail(error, a, b, c)
  }
  return withVerifier(function dispatch(a: A, b: B, c: C): MaybePromise<R> {
    // Computed only with publicRoutes (then shared with the scope map): without, this costs one comparison.
    let route: RequestRoute | undefined
    if (isPublic !== null) {
      route = framework.route(a)
      if (isPublic(route)) return pass(a, b, c)
    }
    // The one object a request makes here: every field set, so the check's writes keep its shape.
    const status: CheckStatus | undefined = limited ? { cache: 'none', counting: undefined, quota: null } : undefined
    let result: MaybePromise<PortkeyAuth>
    try {
      const headers = framework.headers(a)
      if (bearer && readsAuthorization(headers) && repeatsAuthorization(framework.rawHeaders(a))) {
        throw invalidRequest('Send exactly one Authorization header.')
      }
      result = verifier.check(headers, verifier.routed ? (route ?? framework.route(a)) : undefined, status)
    } catch (error) {
      return refuse(error, a, b, c)
    }
    if (!(result instanceof Promise)) return admit(result, status?.quota, a, b, c)
    return result.then(
      (auth) => admit(auth, status?.quota, a, b, c),
      (error: unknown) => refuse(error, a, b, c),
    )
  }, verifier)
}

/** Whether Node's headers would have the credential read from `Authorization` (a Web `Headers` joins repeats). */
function readsAuthorization(headers: IncomingHeaders | Headers): boolean {
  const node = headers as IncomingHeaders
  const credential = node[CREDENTIAL_HEADER]
  return (credential === undefined || credential === '') && node[AUTHORIZATION_HEADER] !== undefined
}

/**
 * The body of every adapter's `requirePermissions()`: go on when the caller holds every scope, else the
 * 403 (or the 500 when no `portkeyAuth()` ran before it), through the `onError` of that `portkeyAuth()`.
 */
export function createPermissionCheck<A extends object, B, C, R>(
  scopes: readonly string[],
  framework: Pick<Framework<A, B, C, R>, 'attached' | 'attachedQuota' | 'next' | 'send'>,
): (a: A, b: B, c: C) => R {
  const guard = scopeGuard(scopes)
  return function permissionCheck(a, b, c) {
    const auth = framework.attached(a)
    const error = guard(auth)
    if (error === null) return framework.next(a, b, c)
    // Refused after all: the allowance portkeyAuth() counted the request against goes back (its quota's, if its own).
    RequestQuota.refund(framework.attachedQuota(a), auth)
    const onError = (a as Record<symbol, OnError<A, B, C, R> | undefined>)[ON_ERROR] ?? framework.send
    return onError(error, a, b, c)
  }
}
