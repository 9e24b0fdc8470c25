import { type AuthError, insufficientScope, misconfigured } from '../errors.js'
import type { PortkeyAuth } from '../types.js'

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
