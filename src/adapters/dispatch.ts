import { AUTHORIZATION_HEADER, CREDENTIAL_HEADER, repeatsAuthorization } from '../credential/header.js'
import { AuthError, invalidRequest } from '../errors.js'
import type { MaybePromise } from '../maybe-promise.js'
import { scopeGuard } from '../permissions/require.js'
import { RequestQuota } from '../rate-limit/quota.js'
import type { CheckStatus, IncomingHeaders, PortkeyAuth, Quota, RateLimitHeaders, RequestRoute } from '../types.js'
import type { Verifier } from '../verifier/verifier.js'
import type { HeaderViews } from './hide-credential.js'
import { type MiddlewareFeatures, type MiddlewareOptions, middlewareConfig } from './middleware-options.js'

/**
 * What an adapter tells the shared dispatch about its framework: how to read a request, attach the
 * context, go on, and answer. A middleware is called as `(req, second, third)`: `Req` is what carries the
 * request (Express's and Fastify's `req`, Koa's `ctx`, Hono's `c`, a Web `Request`); `Second` and `Third` are
 * its other arguments, handed back untouched to `next`, `send` and `fail` (`(res, next)` in Express,
 * `(next, undefined)` in Koa and Hono); `Result` is what it returns.
 */
export interface Framework<Req, Second, Third, Result> {
  /** The request's headers (names lower-cased). */
  headers(req: Req): IncomingHeaders | Headers
  /** The method and the path routers route on; read only when a scope map needs it. */
  route(req: Req): RequestRoute
  /** Node's request, whose header views `hideCredentials` empties of the credential. */
  request(req: Req): HeaderViews
  /**
   * Node's raw header lines (`rawHeaders`), to refuse a repeated `Authorization` that `headers` keeps only the
   * first of; `undefined` where the headers are a Web `Headers`, which joins repeats with ', '. Read only when
   * the credential would come from `Authorization`.
   */
  rawHeaders(req: Req): readonly string[] | undefined
  /**
   * Where the context lives (`req.portkey`, `ctx.state.portkey`), and beside it the request's quota, when it has
   * one (`req.portkeyQuota`, `ctx.state.portkeyQuota`).
   */
  attach(req: Req, auth: PortkeyAuth, quota: Quota | null): void
  /** The context `portkeyAuth()` attached, for `requirePermissions()`; `undefined` when it did not run. */
  attached(req: Req): PortkeyAuth | undefined
  /** The quota `portkeyAuth()` attached, for `requirePermissions()` to give back when it refuses; else `null`. */
  attachedQuota(req: Req): Quota | null
  /** Adds `RateLimit-Policy` and `RateLimit` to the response of an admitted request (one with a quota). */
  setHeaders(headers: RateLimitHeaders, req: Req, second: Second): void
  /** Goes on to the next handler. */
  next(req: Req, second: Second, third: Third): Result
  /** The default answer to a rejection: its status, headers and JSON body. */
  send(error: AuthError, req: Req, second: Second, third: Third): Result
  /** Hands an error that is no `AuthError` (a bug) to the framework's error handling. */
  fail(error: unknown, req: Req, second: Second, third: Third): Result
}

type OnError<Req, Second, Third, Result> = (error: AuthError, req: Req, second: Second, third: Third) => Result

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
 * credential. With `hideCredentials` the credential leaves the request on every outcome. `features` says whose
 * options these are and which of publicRoutes and hideCredentials the adapter gives (`SERVER_FEATURES`).
 */
export function createDispatch<Req extends object, Second, Third, Result>(
  options: MiddlewareOptions<OnError<Req, Second, Third, Result>> | MiddlewareOptions['verifier'],
  framework: Framework<Req, Second, Third, Result>,
  features: MiddlewareFeatures,
): ((req: Req, second: Second, third: Third) => MaybePromise<Result>) & VerifierHandle {
  const { verifier, hideCredential, onError, isPublic } = middlewareConfig(options, features)
  const answer = onError ?? framework.send
  // Whether Authorization may carry the credential, so hideCredentials removes it then (a verifier made
  // elsewhere without the field reads it, as the default does).
  const bearer = verifier.bearer !== false
  // Whether a request may have a quota, so needs a status to carry it (a verifier made elsewhere without the
  // field may, as the default does).
  const limited = verifier.limited !== false
  // A public route goes on as an admitted request does, minus the context.
  const pass = (req: Req, second: Second, third: Third): Result => {
    if (onError !== undefined) (req as Record<symbol, unknown>)[ON_ERROR] = onError
    if (hideCredential !== null) hideCredential(framework.request(req), bearer)
    return framework.next(req, second, third)
  }
  const admit = (auth: PortkeyAuth, quota: Quota | null | undefined, req: Req, second: Second, third: Third): Result => {
    // A verifier made elsewhere (a test double) may leave the status as it was made.
    framework.attach(req, auth, quota ?? null)
    const headers = quota?.headers
    if (headers != null) framework.setHeaders(headers, req, second)
    return pass(req, second, third)
  }
  const refuse = (error: unknown, req: Req, second: Second, third: Third): Result => {
    if (hideCredential !== null) hideCredential(framework.request(req), bearer)
    return error instanceof AuthError ? answer(error, req, second, third) : framework.fail(error, req, second, third)
  }
  return withVerifier(function dispatch(req: Req, second: Second, third: Third): MaybePromise<Result> {
    // Computed only with publicRoutes (then shared with the scope map): without, this costs one comparison.
    let route: RequestRoute | undefined
    if (isPublic !== null) {
      route = framework.route(req)
      if (isPublic(route)) return pass(req, second, third)
    }
    // The one object a request makes here: every field set, so the check's writes keep its shape.
    const status: CheckStatus | undefined = limited ? { cache: 'none', counting: undefined, quota: null } : undefined
    let result: MaybePromise<PortkeyAuth>
    try {
      const headers = framework.headers(req)
      if (bearer && readsAuthorization(headers) && repeatsAuthorization(framework.rawHeaders(req))) {
        throw invalidRequest('Send exactly one Authorization header.')
      }
      result = verifier.check(headers, verifier.routed ? (route ?? framework.route(req)) : undefined, status)
    } catch (error) {
      return refuse(error, req, second, third)
    }
    if (!(result instanceof Promise)) return admit(result, status?.quota, req, second, third)
    return result.then(
      (auth) => admit(auth, status?.quota, req, second, third),
      (error: unknown) => refuse(error, req, second, third),
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
export function createPermissionCheck<Req extends object, Second, Third, Result>(
  scopes: readonly string[],
  framework: Pick<Framework<Req, Second, Third, Result>, 'attached' | 'attachedQuota' | 'next' | 'send'>,
): (req: Req, second: Second, third: Third) => Result {
  const guard = scopeGuard(scopes)
  return function permissionCheck(req, second, third) {
    const auth = framework.attached(req)
    const error = guard(auth)
    if (error === null) return framework.next(req, second, third)
    // Refused after all: the allowance portkeyAuth() counted the request against goes back (its quota's, if its own).
    RequestQuota.refund(framework.attachedQuota(req), auth)
    const onError = (req as Record<symbol, OnError<Req, Second, Third, Result> | undefined>)[ON_ERROR] ?? framework.send
    return onError(error, req, second, third)
  }
}
