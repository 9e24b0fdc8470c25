import { type AuthError, insufficientScope, invalidRequest } from '../errors.js'
import type { PortkeyAuth, ScopeMap } from '../types.js'
import { AMBIGUOUS_PATH, unambiguous } from './path-shape.js'
import { INFERENCE, PORTKEY_SCOPES } from './portkey-scopes.js'

/** A route, compiled (`parseRoute()`). */
export interface Route {
  readonly method: string | null
  /** Sticky: tested from one `/` of the path to its end, see `firstMatch()`. */
  readonly pattern: RegExp
  /** The character code its path starts with after the `/`; `null` for a parameter, `*` or nothing. */
  readonly first: number | null
}

interface Rule extends Route {
  readonly anyOf: readonly string[]
  readonly inference: boolean
}

/** Checks requests against a scope map; compiled once, when the verifier is created. */
export interface RouteScopes {
  /**
   * `null` when the request may go on, else the rejection: 400 `invalid_request` for a path that could
   * name another route (see `ScopeMap`), 403 `insufficient_scope` for a missing scope.
   */
  check(auth: PortkeyAuth, method: string, path: string): AuthError | null
}

/**
 * Compiles a scope map (or `'portkey'` for Portkey's own) into a checker. With Portkey's map,
 * organisation (admin) keys are refused on inference routes whatever their scopes, as Portkey does.
 */
export function compileScopes(map: ScopeMap | 'portkey'): RouteScopes {
  const portkey = map === 'portkey'
  const rules: Rule[] = []
  // The bare paths of the rules ending in `/*`, after every rule: a rule of the bare path itself comes first.
  const bare: Rule[] = []
  for (const [route, scopes] of Object.entries(portkey ? PORTKEY_SCOPES : map)) {
    const anyOf: unknown[] = typeof scopes === 'string' ? [scopes] : Array.isArray(scopes) ? [...scopes] : []
    if (anyOf.length === 0 || anyOf.some((scope) => typeof scope !== 'string' || scope === '')) {
      throw new TypeError(
        `portkey-auth: scopes[${JSON.stringify(route)}] must be a scope or a non-empty list of scopes, got ${JSON.stringify(scopes) ?? typeof scopes}`,
      )
    }
    const needs = { anyOf: anyOf as string[], inference: portkey && scopes === INFERENCE }
    const [own, itsBare] = parseRoute(route, 'scope route')
    rules.push({ ...own, ...needs })
    if (itsBare !== undefined) bare.push({ ...itsBare, ...needs })
  }
  rules.push(...bare)
  const starts = firstCharacters(rules)
  return {
    check(auth, method, path) {
      if (!unambiguous(path)) return invalidRequest(AMBIGUOUS_PATH)
      // Express answers HEAD with the GET route, so a GET rule guards HEAD too.
      const rule = firstMatch(rules, starts, method === 'HEAD' ? 'GET' : method, path)
      if (rule === undefined) return null
      if (rule.inference && auth.keyType === 'organisation-service') {
        return insufficientScope([], 'Organisation API keys cannot call inference routes; use a workspace API key.')
      }
      return rule.anyOf.some((scope) => auth.scopes.includes(scope)) ? null : insufficientScope(rule.anyOf)
    },
  }
}

/**
 * A route as a scope map (or a rate limit) names it, `'POST /v1/path'` or `'/v1/path'`, compiled; `what` names it in
 * the error. A route ending in `/*` comes with its bare path (`/v1/images` of `/v1/images/*`), which Hono's and
 * Express 5's routers route there too: matched after every other rule, so that one of the bare path itself wins.
 */
function parseRoute(route: string, what: string): [Route] | [Route, Route] {
  // No HEAD (a GET route guards it), no query or fragment, a `*` only at the end: a route that could never match a
  // request would leave open what it names.
  const match = /^(?:(?!HEAD )([A-Z]+) )?(\/[^\s?#*]*\*?)$/.exec(route)
  if (!match) {
    throw new TypeError(
      `portkey-auth: ${what} ${JSON.stringify(route)} must look like 'POST /v1/path' (no HEAD: GET covers it; a * only at the end)`,
    )
  }
  const path = match[2]!
  const method = match[1] ?? null
  const first = /^\/+([^/:*])/.exec(path)?.[1]?.charCodeAt(0) ?? null
  const own = { method, pattern: routePattern(path), first }
  const bare = path.endsWith('/*') ? path.slice(0, -2) : ''
  return bare.replaceAll('/', '') === '' ? [own] : [own, { method, pattern: routePattern(bare), first }]
}

/** One route, compiled to be matched alone (`onRoute()`): it, and its bare path (see `parseRoute()`). */
export interface RouteMatcher {
  readonly rules: readonly Route[]
  readonly starts: Set<number> | null
}

/** `route` (`'POST /v1/path'` or `'/v1/path'`) compiled for `onRoute()`; `what` names it in the error. */
export function routeMatcher(route: string, what: string): RouteMatcher {
  const rules = parseRoute(route, what)
  return { rules, starts: firstCharacters(rules) }
}

/** Whether a request (`method`, `path`) is on the route of `matcher`, as a scope map matches its routes (see `ScopeMap`). */
export const onRoute = ({ rules, starts }: RouteMatcher, method: string, path: string): boolean =>
  firstMatch(rules, starts, method === 'HEAD' ? 'GET' : method, path) !== undefined

const SLASH = 0x2f

/**
 * The first rule, in map order, that matches `path` from one of its `/` to the end. Only the last `/` of
 * a run is tried (patterns read a run as one slash), and only where some rule can start: every pattern
 * fails on the first character that differs, so the cost stays linear in the length of the path.
 */
function firstMatch<R extends Route>(rules: readonly R[], starts: Set<number> | null, verb: string, path: string): R | undefined {
  let best = rules.length
  for (let at = path.indexOf('/'); at !== -1 && best > 0; at = path.indexOf('/', at + 1)) {
    const next = path.charCodeAt(at + 1)
    if (next === SLASH || (starts !== null && !starts.has(next | CASE_BIT))) continue
    for (let i = 0; i < best; i++) {
      const { method, pattern } = rules[i]!
      if (method !== null && method !== verb) continue
      pattern.lastIndex = at
      if (pattern.test(path)) best = i
    }
  }
  return rules[best]
}

const CASE_BIT = 0x20

/**
 * The first characters of the rules' paths after the `/`, ASCII case folded (as the `i` flag folds them);
 * `null` when any tail may match: a rule starts with a parameter, a `*`, nothing, or a non-ASCII character.
 */
function firstCharacters(rules: readonly Route[]): Set<number> | null {
  const starts = new Set<number>()
  for (const { first } of rules) {
    if (first === null || first > 0x7f) return null
    starts.add(first | CASE_BIT)
  }
  return starts
}

/**
 * The sticky pattern of a route path. Segments are joined by `/+` and empty ones dropped, so that no two
 * quantifiers can share a run of slashes (which could backtrack quadratically).
 */
function routePattern(path: string): RegExp {
  const rest = path.endsWith('*')
  const bare = rest ? path.slice(0, -1) : path
  const segments = bare
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
  const end = rest ? (bare.endsWith('/') && segments.length > 0 ? '/.*' : '.*') : '/*'
  // Case-insensitive, as Express and the usual Koa routers match routes: /V1/Chat/Completions must not slip past.
  return new RegExp(`/${segments.join('/+')}${end}$`, 'iys')
}
