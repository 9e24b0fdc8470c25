import { type AuthError, insufficientScope, misconfigured } from './errors.js'
import type { PortkeyAuth } from './types.js'

/**
 * Scopes required per route. Keys are `'METHOD /path'` or `'/path'` (any method); a path segment
 * `:name` matches one segment and a final `*` matches the rest. A value is a scope, or a list of scopes
 * any one of which is enough. The first matching route applies; routes not listed need no scope beyond a
 * valid credential.
 *
 * @example { 'POST /v1/chat/completions': 'completions.write', 'GET /v1/models': ['completions.write', 'virtual_keys.list'] }
 */
export type ScopeMap = Readonly<Record<string, string | readonly string[]>>

const INFERENCE = 'completions.write'

/** Portkey's own route-to-scope mapping, as its gateway applies it (`scopes: 'portkey'`). */
export const PORTKEY_SCOPES: ScopeMap = Object.freeze({
  'POST /v1/chat/completions': INFERENCE,
  'POST /v1/completions': INFERENCE,
  'POST /v1/embeddings': INFERENCE,
  'POST /v1/images/*': INFERENCE,
  'POST /v1/audio/*': INFERENCE,
  'POST /v1/messages': INFERENCE,
  'POST /v1/responses': INFERENCE,
  'POST /v1/moderations': INFERENCE,
  'POST /v1/prompts/:id/completions': INFERENCE,
  'POST /v1/prompts/:id/render': 'prompts.render',
  'GET /v1/models': [INFERENCE, 'virtual_keys.list'],
  'POST /v1/logs': 'logs.write',
  'GET /v1/logs/exports*': 'logs.export',
  'POST /v1/logs/exports*': 'logs.export',
  'GET /v1/logs*': 'logs.read',
  'POST /v1/feedback*': 'feedbacks.write',
  'PUT /v1/feedback*': 'feedbacks.write',
  'GET /v1/feedback*': 'feedbacks.read',
  '/v1/mcp*': 'mcp.invoke',
  '/v1/agents*': 'agents.invoke',
  '/v1/guardrails*': 'guardrails.invoke',
})

/**
 * True when `auth` holds every one of `scopes`.
 * @example if (!hasPermissions(req.portkey, 'logs.read')) ...
 */
export function hasPermissions(auth: PortkeyAuth, ...scopes: string[]): boolean {
  return scopes.every((scope) => auth.scopes.includes(scope))
}

/**
 * Validates the scopes given to `requirePermissions()` once, when the route middleware is created, and
 * returns the per-request check: `null` when `auth` holds them all, else the rejection — a 500 when no
 * `portkeyAuth()` ran before it, so a forgotten guard fails loudly instead of leaving the route open.
 */
export function scopeGuard(scopes: readonly string[]): (auth: PortkeyAuth | undefined) => AuthError | null {
  if (scopes.length === 0 || scopes.some((scope) => typeof scope !== 'string' || scope === '')) {
    throw new TypeError('portkey-auth: requirePermissions() needs one or more non-empty scope strings')
  }
  return function scopeGuard(auth) {
    if (auth === undefined) {
      return misconfigured('requirePermissions() ran without portkeyAuth() before it: add portkeyAuth() ahead of this route.')
    }
    const missing = scopes.filter((scope) => !auth.scopes.includes(scope))
    return missing.length === 0 ? null : insufficientScope(missing, `Missing permission: ${missing.join(', ')}.`)
  }
}

interface Rule {
  readonly method: string | null
  readonly pattern: RegExp
  readonly anyOf: readonly string[]
  readonly inference: boolean
}

/** Checks requests against a scope map; compiled once, when the verifier is created. */
export interface RouteScopes {
  /** `null` when the request may go on, else the rejection. */
  check(auth: PortkeyAuth, method: string, path: string): AuthError | null
}

/**
 * Compiles a scope map (or `'portkey'` for Portkey's own) into a checker. With Portkey's map,
 * organisation (admin) keys are refused on inference routes whatever their scopes, as Portkey does.
 */
export function compileScopes(map: ScopeMap | 'portkey'): RouteScopes {
  const portkey = map === 'portkey'
  const rules: Rule[] = Object.entries(portkey ? PORTKEY_SCOPES : map).map(([route, scopes]) => {
    const anyOf = typeof scopes === 'string' ? [scopes] : [...scopes]
    if (anyOf.length === 0 || anyOf.some((scope) => typeof scope !== 'string' || scope === '')) {
      throw new TypeError(`portkey-auth: scopes for ${JSON.stringify(route)} must be a scope or a non-empty list of scopes`)
    }
    const match = /^(?:([A-Z]+) )?(\/\S*)$/.exec(route)
    if (!match) throw new TypeError(`portkey-auth: scope route ${JSON.stringify(route)} must look like 'POST /v1/path'`)
    return { method: match[1] ?? null, pattern: routePattern(match[2]!), anyOf, inference: portkey && scopes === INFERENCE }
  })
  return {
    check(auth, method, path) {
      // Express answers HEAD with the GET route, so a GET rule guards HEAD too.
      const verb = method === 'HEAD' ? 'GET' : method
      const rule = rules.find((r) => (r.method === null || r.method === verb) && r.pattern.test(path))
      if (rule === undefined) return null
      if (rule.inference && auth.keyType === 'organisation-service') {
        return insufficientScope([], 'Organisation API keys cannot call inference routes; use a workspace API key.')
      }
      return rule.anyOf.some((scope) => auth.scopes.includes(scope)) ? null : insufficientScope(rule.anyOf)
    },
  }
}

function routePattern(path: string): RegExp {
  const rest = path.endsWith('*')
  const body = (rest ? path.slice(0, -1) : path)
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/')
  // Case-insensitive, as Express and the usual Koa routers match routes: /V1/Chat/Completions must not slip past.
  return new RegExp(`^${body}${rest ? '.*' : '/?'}$`, 'i')
}
