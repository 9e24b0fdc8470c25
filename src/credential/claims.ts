import { sharedDefaults, sharedScopes } from './shared-parts.js'
import type { JWTPayload } from 'jose'
import { frozenWith, jwtIdentity, shownUserId, userKeyId } from '../identity.js'
import { stringMap } from './key-record.js'
import { ClaimsError } from '../errors.js'
import { parseRateLimits } from '../rate-limit/parse.js'
import type { PortkeyAuth } from '../types.js'

const PREFIX = 'portkey.'

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null)

/**
 * Maps a verified Portkey JWT's claims to the context an API key would give: organisation from
 * `portkey_oid` or `organisation_id` (required); workspace from `portkey_workspace` or `workspace_slug`;
 * scopes from `scope` (space-separated) or `scopes` (array), without their `portkey.` prefix; user from
 * `email_id`, `sub`, then `uid`. The key id is `jti`; without one, the id this process shows for the user
 * (`shownUserId`: `jwt_` and 16 base64url characters, never the e-mail a `sub` may hold, nor linkable to it),
 * else `fallbackKeyId` (the token's fingerprint). Its identity (counters, virtual-key answers) is the issuer,
 * the organisation and the user (`userKeyId`, the same on every instance), not the token.
 */
export function claimsToAuth(claims: JWTPayload, fallbackKeyId: string): PortkeyAuth {
  const organisationId = text(claims.portkey_oid) ?? text(claims.organisation_id)
  if (organisationId === null) throw new ClaimsError('token has no portkey_oid or organisation_id claim')
  const defaults =
    typeof claims.defaults === 'object' && claims.defaults !== null ? (claims.defaults as Record<string, unknown>) : {}
  const usageLimits = claims.usage_limits
  const expiresAt = typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null
  if (expiresAt !== null && Number.isNaN(expiresAt.getTime())) throw new ClaimsError('token exp is out of range')
  const issuer = text(claims.iss) ?? ''
  const jti = text(claims.jti)
  const user = userKeyId(claims, issuer, organisationId)
  const auth = {
    method: 'jwt',
    keyId: jti ?? (user === null ? fallbackKeyId : shownUserId(user)),
    keyType: 'workspace-user',
    organisationId,
    workspaceId: text(claims.portkey_workspace) ?? text(claims.workspace_slug),
    userId: text(claims.email_id) ?? text(claims.sub) ?? text(claims.uid),
    scopes: sharedScopes(scopesOf(claims)),
    virtualKey: null,
    defaults: sharedDefaults(text(defaults.config_id), stringMap(defaults.metadata)),
    rateLimits: parseRateLimits(claims.rate_limits),
    usageLimits: typeof usageLimits === 'object' && usageLimits !== null ? Object.freeze({ ...usageLimits }) : null,
    expiresAt,
  } satisfies PortkeyAuth
  return frozenWith(auth, jwtIdentity(issuer, organisationId, user, jti ?? fallbackKeyId))
}

function scopesOf(claims: JWTPayload): string[] {
  const raw: unknown[] =
    typeof claims.scope === 'string' ? claims.scope.split(' ') : Array.isArray(claims.scopes) ? claims.scopes : []
  const scopes = raw
    .filter((scope): scope is string => typeof scope === 'string')
    .map((scope) => (scope.startsWith(PREFIX) ? scope.slice(PREFIX.length) : scope))
    // After the prefix is gone: a bare `portkey.` must not become an empty scope.
    .filter((scope) => scope !== '')
  return [...new Set(scopes)]
}
