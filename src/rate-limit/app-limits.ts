import { checkNames } from '../options/names.js'
import { describe } from '../options/validate.js'
import type { AppRateLimit } from '../options/verifier-options.js'
import { onRoute, type RouteMatcher, routeMatcher } from '../permissions/route-scopes.js'
import type { RateLimitUnit } from '../types.js'
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

/** Whether a request on `method` `path` (`undefined`: checked without its route) counts against `group`. */
export const appliesTo = (group: LimitGroup, method: string | undefined, path: string): boolean =>
  group.route === null || (method !== undefined && onRoute(group.route, method, path))

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
