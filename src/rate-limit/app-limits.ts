import { checkNames } from '../options/names.js'
import { describe } from '../options/validate.js'
import type { AppRateLimit } from '../options/verifier-options.js'
import { unambiguous } from '../permissions/path-shape.js'
import { onRoute, type RouteMatcher, routeMatcher } from '../permissions/route-scopes.js'
import type { RateLimitUnit, RequestRoute } from '../types.js'
import { type Policy, policyHeader, WINDOW_SECONDS } from './policy.js'

/** The app's limits that count together (`rateLimits.limits`): those of one `per` and one route (or none). */
export interface LimitGroup {
  readonly per: NonNullable<AppRateLimit['per']>
  /** The route its requests are on; `null` for every route. */
  readonly route: RouteMatcher | null
  readonly policies: readonly Policy[]
  /** `RateLimit-Policy` for `policies`. */
  readonly policyHeader: string
}

const NAME = /^[a-z][a-z0-9_-]{0,31}$/
// The names of the records' limits (policy.ts), which an app's may not take.
export const RECORD_NAME = /^(?:vk-)?(?:tokens-)?rp[mhdw]$/
const SCOPES = { caller: 'api_key', workspace: 'workspace', virtual_key: 'virtual_key' } as const

// A router's routes are few: more paths than this are made up, and the memo starts again; a longer one is not kept.
const PATHS_KEPT = 256
const PATH_KEPT_LENGTH = 256

/**
 * Which groups of the app's limits a request counts against, by its route (method and path), for a verifier with
 * limits bound to routes: matching costs a scan of the path and a regex per group, so the answer is kept per path
 * (with the method last seen on it). `null` for a path that routers could read as another route (`unambiguous()`).
 */
export class RouteMemo {
  readonly #groups: readonly LimitGroup[]
  readonly #paths = new Map<string, { method: string; applies: readonly boolean[] | null }>()
  /** A request checked without its route: the groups bound to no route. */
  readonly #unrouted: readonly boolean[]

  constructor(groups: readonly LimitGroup[]) {
    this.#groups = groups
    this.#unrouted = groups.map((group) => group.route === null)
  }

  /** The answer for `route` (`undefined`: checked without it). A route whose method or path is no string is `null`. */
  of(route: RequestRoute | undefined): readonly boolean[] | null {
    if (route === undefined) return this.#unrouted
    const { method, path } = route
    if (typeof method !== 'string' || typeof path !== 'string') return null
    const seen = this.#paths.get(path)
    if (seen !== undefined && seen.method === method) return seen.applies
    const applies = unambiguous(path)
      ? this.#groups.map((group) => group.route === null || onRoute(group.route, method, path))
      : null
    if (path.length <= PATH_KEPT_LENGTH) {
      if (this.#paths.size >= PATHS_KEPT) this.#paths.clear()
      // A copy of its own: a path sliced from the request's URL would keep the whole URL (its query too) alive.
      this.#paths.set(` ${path}`.slice(1), { method, applies })
    }
    return applies
  }
}

/**
 * The `rateLimits.limits` option, checked and grouped (by `per` and route, in the order first named); `null` for
 * none. Throws a `TypeError` naming what is wrong.
 */
export function compileAppLimits(option: unknown): readonly LimitGroup[] | null {
  if (option === undefined) return null
  if (!Array.isArray(option)) throw new TypeError(`portkey-auth: rateLimits.limits must be a list, got ${describe(option)}`)
  const groups = new Map<string, { per: LimitGroup['per']; route: string | undefined; policies: Policy[] }>()
  const names = new Set<string>()
  for (const limit of option as unknown[]) {
    const wrong = (what: string) => new TypeError(`portkey-auth: rateLimits.limits: ${what}, got ${describe(limit)}`)
    if (typeof limit !== 'object' || limit === null) throw wrong('each limit must be an object')
    checkNames('rateLimits.limits[]', limit)
    const { name, type, unit, value, per = 'caller', route, mode } = limit as AppRateLimit
    if (typeof name !== 'string' || !NAME.test(name) || RECORD_NAME.test(name) || names.has(name)) {
      throw wrong('name must be 1 to 32 of a-z, 0-9, _ and -, from a letter, none of rpm, tokens-rpm, vk-rpm…, and not twice')
    }
    if (type !== 'requests' && type !== 'tokens') throw wrong(`type must be 'requests' or 'tokens'`)
    if (!Object.hasOwn(WINDOW_SECONDS, unit)) throw wrong(`unit must be 'rpm', 'rph', 'rpd' or 'rpw'`)
    if (!Number.isSafeInteger(value) || value < 0) throw wrong('value must be a whole number, 0 or more')
    if (!Object.hasOwn(SCOPES, per)) throw wrong(`per must be 'caller', 'workspace' or 'virtual_key'`)
    if (route !== undefined && typeof route !== 'string') throw wrong(`route must look like 'POST /v1/path'`)
    if (mode !== undefined && mode !== 'enforce' && mode !== 'shadow') throw wrong(`mode must be 'enforce' or 'shadow'`)
    names.add(name)
    const windowMs = WINDOW_SECONDS[unit as RateLimitUnit] * 1000
    const policy: Policy = Object.freeze({
      scope: SCOPES[per],
      type,
      unit,
      quota: value,
      windowMs,
      name,
      stateKey: `"${name}";r=`,
      // Its own mode, if given; else the verifier's (`rateLimits.mode`), as the records' limits have.
      ...(mode === undefined ? {} : { shadow: mode === 'shadow' }),
    })
    const key = JSON.stringify([per, route ?? null])
    const group = groups.get(key) ?? { per, route, policies: [] }
    groups.set(key, group)
    group.policies.push(policy)
  }
  if (groups.size === 0) return null
  return Object.freeze(
    [...groups.values()].map(({ per, route, policies }) =>
      Object.freeze({
        per,
        route: route === undefined ? null : routeMatcher(route, 'rateLimits.limits route'),
        policies: Object.freeze(policies),
        policyHeader: policyHeader(policies),
      }),
    ),
  )
}
