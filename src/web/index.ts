/**
 * Web-standard `Request` handlers (Next.js, Remix, SvelteKit, Bun, Deno, Cloudflare Workers):
 * `withPortkeyAuth()` wraps a handler, `authenticate()` checks a request, `requirePermissions()` checks scopes.
 * @packageDocumentation
 */

import { createDispatch, createPermissionCheck, type Framework, type VerifierHandle, withVerifier } from '../adapters/dispatch.js'
import type { HeaderViews } from '../adapters/hide-credential.js'
import type { MiddlewareFeatures, MiddlewareOptions } from '../adapters/middleware-options.js'
import { type AuthError, errorBody } from '../errors.js'
import type { MaybePromise } from '../maybe-promise.js'
import type { PortkeyAuth, Quota, RateLimitHeaders } from '../types.js'
import type { Verifier } from '../verifier/verifier.js'
import { requestRoute } from '../adapters/request-route.js'
import { LIMITS } from '../options/defaults.js'
import { MIDDLEWARE_NAMES, type Names } from '../options/names.js'
import type { VerifierOptions } from '../options/verifier-options.js'
import { environmentVerifier } from '../verifier/environment.js'
import { settingsKey } from './settings-key.js'

/**
 * Takes over the response to a rejected request (from `authenticate()`, `withPortkeyAuth()` and
 * `requirePermissions()`): return the `Response` to send. The error carries `status`, `headers` and a stable `code`.
 */
export type WebErrorHandler = (error: AuthError, request: Request) => Response | Promise<Response>

/**
 * Options of `authenticate()` and `withPortkeyAuth()`: the verifier options (or `verifier`) and `onError`.
 * There is no `publicRoutes` (a handler that needs no key is one you do not wrap) and no `hideCredentials`
 * (a Web `Request`'s headers may be immutable: Deno and Cloudflare Workers refuse to change them); both are
 * a `TypeError`. To forward a request without the key, build the upstream request's headers without
 * `x-portkey-api-key`.
 */
export interface WebAuthOptions extends Omit<MiddlewareOptions<WebErrorHandler>, 'hideCredentials' | 'publicRoutes'> {
  /** Not supported here: a `TypeError` when `true`. @default false */
  hideCredentials?: false
  /** Not supported here: a `TypeError`. */
  publicRoutes?: never
}

// A Web handler's own options, every one in its table of names (hideCredentials and publicRoutes are refused):
// one added above and not there fails to compile.
MIDDLEWARE_NAMES.web satisfies Names<Omit<WebAuthOptions, keyof VerifierOptions | 'hideCredentials' | 'publicRoutes'>>

/** What a guarded handler receives besides the request. */
export interface WebAuth {
  /** The caller's Portkey context. */
  readonly portkey: PortkeyAuth
  /**
   * This request's standing against its key's (and virtual key's) rate limits: what is left, when the window
   * resets, `reportTokens()`. `null` when no limit applies (or with `rateLimits: false`).
   */
  readonly quota: Quota | null
}

/**
 * What `authenticate()` resolves to: the caller's context and the request's quota, or the rejection to send back
 * as it is (its status, headers and JSON body, or what `onError` returned).
 */
export type AuthResult =
  | { readonly portkey: PortkeyAuth; readonly quota: Quota | null; readonly response?: undefined }
  | { readonly portkey?: undefined; readonly quota?: undefined; readonly response: Response }

/** A handler `withPortkeyAuth()` guards: the request, the context, then whatever the runtime passes after the request. */
export type GuardedHandler<Req extends Request, Args extends unknown[]> = (
  request: Req,
  auth: WebAuth,
  ...args: Args
) => Response | Promise<Response>

/** What the shared dispatch answers here: the context, or the rejection. */
type Result = WebAuth | { readonly response: MaybePromise<Response> }

// Neither publicRoutes nor hideCredentials (refused in webDispatch() with the reason): their code stays out of a Worker.
const WEB_FEATURES: MiddlewareFeatures = { names: 'web' }

// What a request was admitted with, by request: for requirePermissions(), which gets the request only.
const admitted = new WeakMap<Request, WebAuth>()

const NO_VIEWS: HeaderViews = Object.freeze({ headers: Object.freeze({}), rawHeaders: [] })

const rejection = (error: AuthError): Response =>
  Response.json(errorBody(error), { status: error.status, headers: error.headers as Record<string, string> })

const WEB: Framework<Request, undefined, undefined, Result> = {
  // The pipeline reads a Web Headers as it is (a repeated header joined with ', ', refused as Node's join is).
  headers: (request) => request.headers,
  route: requestRoute,
  // Never called: hideCredentials is refused when the options are read.
  request: () => NO_VIEWS,
  // A Web Headers joins a repeated header with ', ', which the credential check refuses.
  rawHeaders: () => undefined,
  attach: (request, portkey, quota) => {
    admitted.set(request, { portkey, quota })
  },
  attached: (request) => admitted.get(request)?.portkey,
  attachedQuota: (request) => admitted.get(request)?.quota ?? null,
  // withPortkeyAuth() adds them to the handler's response; authenticate()'s caller finds them in `quota.headers`.
  setHeaders: () => {},
  // publicRoutes is refused, so next() always follows attach().
  next: (request) => admitted.get(request)!,
  send: (error) => ({ response: rejection(error) }),
  fail: (error) => {
    throw error
  },
}

type Dispatch = ((request: Request, second: undefined, third: undefined) => MaybePromise<Result>) & VerifierHandle

/** The dispatch of one set of options (checked here, once), its `onError` made to answer a `Result`. */
function webDispatch(options: WebAuthOptions | Verifier | undefined): Dispatch {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new TypeError('portkey-auth: pass options or a verifier from createVerifier()')
  }
  let settings = options as MiddlewareOptions<(error: AuthError, request: Request) => Result> | Verifier | undefined
  if (options !== undefined && typeof (options as Partial<Verifier>).check !== 'function') {
    const { hideCredentials, publicRoutes, onError } = options as MiddlewareOptions<WebErrorHandler>
    if (hideCredentials === true) {
      throw new TypeError(
        "portkey-auth/web: hideCredentials is not supported: a Web Request's headers cannot always be changed (Deno, Workers); " +
          'build the headers of a forwarded request without x-portkey-api-key',
      )
    }
    if (publicRoutes !== undefined) {
      throw new TypeError('portkey-auth/web: publicRoutes is not supported: leave a handler that needs no key unwrapped')
    }
    // A non-function is left for the shared checks to refuse.
    if (typeof onError === 'function') {
      settings = { ...options, onError: (error, request) => ({ response: onError(error, request) }) }
    }
  }
  return createDispatch(settings, WEB, WEB_FEATURES)
}

// authenticate() makes one verifier per set of settings (or verifier), and one from the environment.
const byVerifier = new WeakMap<object, Dispatch>()
const bySettings = new Map<string, Dispatch>()
const madePerShape = new Map<string, number>()

/**
 * The dispatch of these options: the same for the same settings, read on every call (options written inline in a handler are a new object on every request, and a verifier each would have no
 * cache, count every rate limit from zero and open Redis connections per request). Options whose functions
 * or clients are made anew on every call cannot be told apart from new settings: past
 * `LIMITS.authenticateVerifiers` verifiers of one shape, `authenticate()` throws a `TypeError` saying so.
 */
function dispatchFor(options: WebAuthOptions | Verifier | undefined, perRequest = true): Dispatch {
  if (options === undefined) {
    // Every call without options shares the process's one verifier from the environment.
    const verifier = environmentVerifier()
    let dispatch = byVerifier.get(verifier)
    if (dispatch === undefined) {
      dispatch = webDispatch(verifier)
      byVerifier.set(verifier, dispatch)
    }
    return dispatch
  }
  if (typeof options !== 'object' || options === null || typeof (options as Partial<Verifier>).check === 'function') {
    let dispatch = byVerifier.get(options)
    if (dispatch === undefined) {
      dispatch = webDispatch(options)
      byVerifier.set(options, dispatch)
    }
    return dispatch
  }
  // Read on every call, not once per object: options changed after their first use (a scope map added) hold.
  const { key, shape } = settingsKey(options)
  let dispatch = bySettings.get(key)
  if (dispatch === undefined) {
    const made = (madePerShape.get(shape) ?? 0) + 1
    // Only authenticate() runs per request; withPortkeyAuth() runs once per handler, however many there are.
    if (perRequest && made > LIMITS.authenticateVerifiers) {
      throw new TypeError(
        `portkey-auth/web: authenticate() was given ${made} options objects that differ only in functions or clients ` +
          'made anew each time, so each would need its own verifier (cache, rate limits, Redis connections). ' +
          'Create the options (or a verifier with createVerifier()) once, outside the handler, and pass that.',
      )
    }
    dispatch = webDispatch(options)
    if (perRequest) madePerShape.set(shape, made)
    bySettings.set(key, dispatch)
  }
  return dispatch
}

/**
 * Checks the Portkey credential of a Web `Request` (Next.js, Remix, SvelteKit, Bun, Deno…): resolves to
 * `{ portkey, quota }`, the caller's context and the request's rate-limit quota (`null` when no limit applies), or
 * `{ response }`, the rejection to return as it is (status, headers, JSON body; add `quota.headers` to your own
 * response). Give it a verifier, or options: a verifier is made once per set of settings (the same values,
 * functions and clients), so options written inline share one; with none, once, from the environment. Invalid
 * options throw a `TypeError` at once, and so do options whose functions are made anew on every call (past a
 * few: they would need a verifier each).
 *
 * @example
 * ```ts
 * const verifier = createVerifier()
 * export async function handle({ event, resolve }) { // SvelteKit hooks.server.ts
 *   const { portkey, response } = await authenticate(event.request, verifier)
 *   if (response) return response
 *   event.locals.portkey = portkey
 *   return resolve(event)
 * }
 * ```
 */
export function authenticate(request: Request, options?: WebAuthOptions | Verifier): Promise<AuthResult> {
  const dispatch = dispatchFor(options)
  try {
    return settle(dispatch(request, undefined, undefined))
  } catch (error) {
    return Promise.reject(error)
  }
}

async function settle(result: MaybePromise<Result>): Promise<AuthResult> {
  const settled = await result
  return 'portkey' in settled ? settled : { response: await settled.response }
}

/** The handler's response with the rate-limit headers; a copy when its headers cannot change (a `fetch()` response). */
function withHeaders(response: Response, headers: RateLimitHeaders): Response {
  try {
    for (const [name, value] of Object.entries(headers)) response.headers.set(name, value)
    return response
  } catch {
    const copy = new Response(response.body, response)
    for (const [name, value] of Object.entries(headers)) copy.headers.set(name, value)
    return copy
  }
}

/**
 * Wraps a handler that takes a Web `Request`: it runs with `{ portkey, quota }` for a request with a valid Portkey
 * credential; any other gets the rejection (status, headers, JSON body, or `onError`'s response). Arguments the
 * runtime passes after the request (Next.js's `{ params }`, Bun's `server`) follow `{ portkey, quota }`. Handlers
 * wrapped with the same settings (each `route.ts` of a Next.js app following the quick start, options or none)
 * share one verifier, so one cache and one count of each rate limit; `guarded.verifier` is it.
 *
 * @example
 * ```ts
 * // app/api/chat/route.ts (Next.js)
 * export const POST = withPortkeyAuth(async (request, { portkey }) => Response.json({ workspace: portkey.workspaceId }))
 * ```
 */
export function withPortkeyAuth<Req extends Request = Request, Args extends unknown[] = []>(
  handler: GuardedHandler<Req, Args>,
  options?: WebAuthOptions | Verifier,
): ((request: Req, ...args: Args) => Promise<Response>) & VerifierHandle {
  if (typeof handler !== 'function') throw new TypeError('portkey-auth/web: withPortkeyAuth() needs a handler function')
  // Shared with every other handler (and authenticate()) of the same settings: one cache, one rate-limit count.
  const dispatch = dispatchFor(options, false)
  // A cached credential reaches the handler in this tick: no await before it.
  async function portkeyAuth(request: Req, ...args: Args): Promise<Response> {
    const pending = dispatch(request, undefined, undefined)
    const result = pending instanceof Promise ? await pending : pending
    if (!('portkey' in result)) return result.response
    const headers = result.quota?.headers
    if (headers == null) return handler(request, result, ...args)
    return withHeaders(await handler(request, result, ...args), headers)
  }
  return withVerifier(portkeyAuth, dispatch.verifier)
}

const PERMISSION_CHECK: Pick<
  Framework<Request, undefined, undefined, Result | null>,
  'attached' | 'attachedQuota' | 'next' | 'send'
> = {
  attached: WEB.attached,
  attachedQuota: WEB.attachedQuota,
  next: () => null,
  send: WEB.send,
}

/**
 * A scope check for a request `authenticate()` or `withPortkeyAuth()` admitted: `null` when the caller
 * holds every one of `scopes`, else the 403 `insufficient_scope` response (through their `onError`); the
 * 500 `auth_misconfigured` for a request they never admitted. Scopes are checked when it is created.
 *
 * @example
 * ```ts
 * const readLogs = requirePermissions('logs.read')
 * export const GET = withPortkeyAuth((request, { portkey }) => readLogs(request) ?? Response.json(listLogs(portkey)))
 * ```
 */
export function requirePermissions(...scopes: string[]): (request: Request) => Response | Promise<Response> | null {
  const check = createPermissionCheck(scopes, PERMISSION_CHECK)
  return function requirePermissions(request) {
    const result = check(request, undefined, undefined)
    return result === null || !('response' in result) ? null : result.response
  }
}

export type { PortkeyAuth, Quota, Verifier, VerifierHandle }
