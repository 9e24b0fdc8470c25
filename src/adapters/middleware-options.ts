import { checkNames, MIDDLEWARE_NAMES, type Middleware, type Names } from '../options/names.js'
import type { VerifierOptions } from '../options/verifier-options.js'
import { createVerifier, type Verifier } from '../verifier/create-verifier.js'
import { environmentVerifier } from '../verifier/environment.js'
import type { HeaderViews } from './hide-credential.js'
import type { PublicRouteTest } from './public-routes.js'

/**
 * What every adapter accepts (`ExpressAuthOptions`, `KoaAuthOptions`, `FastifyAuthOptions`, `HonoAuthOptions`,
 * and `WebAuthOptions` less `hideCredentials` and `publicRoutes`): verifier options (or a verifier to share),
 * and how to treat the request. `OnError` is the adapter's error handler type.
 */
export interface MiddlewareOptions<OnError = never> extends VerifierOptions {
  /**
   * A verifier to use (and share between apps or routers) instead of creating one from these options; no
   * verifier option may stand beside it.
   * @default the process's one verifier from the environment when no verifier option is given, else a new one made from them
   */
  verifier?: Verifier
  /**
   * Remove the credential from the request (`headers`, `headersDistinct`, `rawHeaders`) on every outcome,
   * admitted or refused, so that an app that forwards or logs requests cannot leak it: `x-portkey-api-key`,
   * or `Authorization` when it carried the key as a Bearer; a provider's `Authorization` beside
   * `x-portkey-api-key` is never touched.
   * @default false
   */
  hideCredentials?: boolean
  /**
   * Routes that go on with no credential check, no look-up and no context (`req.portkey` absent): a path
   * such as `'/health'`, the same for one method (`'GET /health'`, which covers `HEAD` too), or every path
   * under a prefix (`'/docs/*'`: what names something below `/docs/`, such as `/docs/x`; never `/docs`, `/docs/`,
   * `/docs//` or `/docs/;x`, which folding routers send to `/docs`). Matched against the path routers route on
   * (under a mount, the full path), exactly: case-sensitive, no trailing slash, nothing decoded; the query
   * string does not matter. A path with dot segments, backslashes or encoded slashes or letters is never
   * public. Everything that does not match is authenticated. A malformed entry is a `TypeError` here.
   * @default [] (every request is authenticated)
   * @example portkeyAuth({ publicRoutes: ['GET /health', '/docs/*'] })
   */
  publicRoutes?: readonly string[]
  /** Takes over the response to a rejected request. @default writes the status, headers and JSON body */
  onError?: OnError
}

// Express's, Koa's and Hono's own options, every one in their table of names: one added above and not there fails to compile.
MIDDLEWARE_NAMES.node satisfies Names<Omit<MiddlewareOptions, keyof VerifierOptions>>

/**
 * What an adapter's middleware offers beyond the check, each part given by the adapters that support it
 * (`SERVER_FEATURES`, server-features.ts: Express, Koa, Fastify, Hono), so that a bundle of one that does not
 * (the Web adapter's) leaves its code out: about 850 B gzipped of the smallest Worker.
 */
export interface MiddlewareFeatures {
  /** Whose options these are, for the did-you-mean of a misspelt one (`MIDDLEWARE_NAMES`). */
  readonly names: Middleware
  /** Compiles `publicRoutes` (`compilePublicRoutes()`); without it, the option opens nothing: every route is checked. */
  readonly publicRoutes?: (entries: unknown) => PublicRouteTest | null
  /**
   * Takes the credential out of a request (`hideCredential()`) for `hideCredentials`; without it, `true` makes every
   * request throw (a 500), never go on with its credential in place.
   */
  readonly hideCredential?: (request: HeaderViews, bearer: boolean) => void
}

/** A middleware's settings, checked once when it is created. */
export interface MiddlewareConfig<OnError> {
  readonly verifier: Verifier
  /** `hideCredentials`' `hideCredential()`; `null` when the option is off. */
  readonly hideCredential: NonNullable<MiddlewareFeatures['hideCredential']> | null
  readonly onError: OnError | undefined
  /** The `publicRoutes` test; `null` when there are none. */
  readonly isPublic: PublicRouteTest | null
}

const isVerifier = (value: unknown): value is Verifier =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Verifier).verify === 'function' &&
  typeof (value as Verifier).check === 'function'

/**
 * Sorts a middleware's argument into the verifier it uses (the one given; the process's one verifier from the
 * environment when no verifier option is given; else a new one made from the options and the environment) and
 * its own settings. A misspelt option is named with the closest of the middleware's options and the verifier's.
 * An adapter that gives neither feature (the Web adapter) refuses their options itself, saying why, before this.
 */
export function middlewareConfig<OnError>(
  options: MiddlewareOptions<OnError> | Verifier | undefined,
  features: MiddlewareFeatures,
): MiddlewareConfig<OnError> {
  if (isVerifier(options)) return { verifier: options, hideCredential: null, onError: undefined, isPublic: null }
  const { verifier, hideCredentials = false, onError, publicRoutes, ...verifierOptions } = options ?? {}
  if (typeof hideCredentials !== 'boolean') throw new TypeError('portkey-auth: hideCredentials must be a boolean')
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError('portkey-auth: onError must be a function')
  // Without the features: see MiddlewareFeatures (nothing opened, nothing let through with its credential).
  const hideCredential = hideCredentials ? (features.hideCredential as NonNullable<typeof features.hideCredential>) : null
  const isPublic = features.publicRoutes?.(publicRoutes) ?? null
  if (verifier === undefined) {
    // No verifier options: the process's one verifier from the environment, shared by every such middleware.
    const given = Object.values(verifierOptions).some((value) => value !== undefined)
    if (given) checkNames('', verifierOptions, features.names)
    return { verifier: given ? createVerifier(verifierOptions) : environmentVerifier(), hideCredential, onError, isPublic }
  }
  if (!isVerifier(verifier)) throw new TypeError('portkey-auth: verifier must come from createVerifier()')
  const extra = Object.entries(verifierOptions).filter(([, value]) => value !== undefined)
  if (extra.length > 0) {
    const names = extra.map(([name]) => name).join(', ')
    throw new TypeError(`portkey-auth: pass ${names} to createVerifier(), not beside a verifier`)
  }
  return { verifier, hideCredential, onError, isPublic }
}
