import { expiredApiKey, invalidApiKey, usageLimitExceeded } from '../errors.js'
import { decide, hasShape, KEY_RECORD, type Outcome } from '../records.js'
import { parseRateLimits } from '../rate-limit/parse.js'
import { sharedDefaults, sharedScopes } from './shared-parts.js'
import type { KeyRecord, KeyType, PortkeyAuth } from '../types.js'

const KEY_TYPES: ReadonlySet<string> = new Set(['organisation-service', 'workspace-service', 'workspace-user'])

/**
 * Whether a record is usable: every field the context is built from has its type. Anything else (an
 * object for a workspace id, a `null` status) is a garbled answer: an outage, never a rejection nor an
 * admission. A custom `lookup`'s records, and records read back from Redis, are checked the same way.
 */
export const isKeyRecord = (value: unknown): value is KeyRecord => hasShape(value, KEY_RECORD)

const KEY_REFUSALS = { expired: expiredApiKey, exhausted: usageLimitExceeded, other: invalidApiKey }

/**
 * Decides what a record means now: `active` (or no status) admits until `expires_at`; `exhausted` is 412;
 * `expired` or a past `expires_at` is 401 `expired_api_key`; any other status is 401 `invalid_api_key`.
 */
export function recordOutcome(record: KeyRecord, now: number): Outcome<PortkeyAuth> {
  return decide(record, now, KEY_REFUSALS, (expiresAtMs) => toAuth(record, expiresAtMs))
}

/** Builds the frozen context of an API-key record. */
function toAuth(record: KeyRecord, expiresAtMs: number): PortkeyAuth {
  const workspaceId = record.workspace_id || null
  const userId = record.user_id || null
  const auth = {
    method: 'api_key',
    keyId: record.id,
    keyType: keyType(record.type, workspaceId, userId),
    organisationId: record.organisation_id,
    workspaceId,
    userId,
    scopes: sharedScopes(record.scopes),
    virtualKey: null,
    defaults: sharedDefaults(record.defaults?.config_id || null, stringMap(record.defaults?.metadata)),
    rateLimits: parseRateLimits(record.rate_limits),
    usageLimits:
      typeof record.usage_limits === 'object' && record.usage_limits !== null ? Object.freeze({ ...record.usage_limits }) : null,
    expiresAt: Number.isFinite(expiresAtMs) ? new Date(expiresAtMs) : null,
  } satisfies PortkeyAuth
  // Its identity (organisation and key id) follows from these fields: `identityOf` makes it on first use.
  return Object.freeze(auth)
}

/** The record's own type when it is one Portkey knows; otherwise inferred from what the key is bound to. */
function keyType(type: unknown, workspaceId: string | null, userId: string | null): KeyType {
  if (typeof type === 'string' && KEY_TYPES.has(type)) return type as KeyType
  if (workspaceId === null) return 'organisation-service'
  return userId === null ? 'workspace-service' : 'workspace-user'
}

/** Keeps only string values: Portkey metadata is a map of strings. */
export function stringMap(value: unknown): Readonly<Record<string, string>> {
  const out: Record<string, string> = {}
  if (value !== null && typeof value === 'object') {
    for (const [name, entry] of Object.entries(value)) if (typeof entry === 'string') out[name] = entry
  }
  return Object.freeze(out)
}
