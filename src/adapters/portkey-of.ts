import { misconfigured } from '../errors.js'
import type { PortkeyAuth } from '../types.js'

/**
 * The body of every adapter's `portkeyOf()`: the context `portkeyAuth()` attached, or the 500
 * `auth_misconfigured` `AuthError` that `requirePermissions()` gives when no `portkeyAuth()` ran, so that a
 * route left out of the guard fails loudly instead of serving a request as no one.
 */
export function contextOrThrow(auth: PortkeyAuth | undefined): PortkeyAuth {
  if (auth === undefined) {
    throw misconfigured(
      'portkeyOf() found no Portkey context: this route is not behind portkeyAuth(), or is one of its publicRoutes.',
    )
  }
  return auth
}
