import { invalidRequest, virtualKeyNotAllowed, virtualKeyUsageLimitExceeded } from '../errors.js'
import { parseRateLimits } from '../rate-limit/parse.js'
import { decide, hasShape, type Outcome, VIRTUAL_KEY_RECORD } from '../records.js'
import type { IncomingHeaders, VirtualKey, VirtualKeyRecord } from '../types.js'

export const VIRTUAL_KEY_HEADER = 'x-portkey-virtual-key'
export const PROVIDER_HEADER = 'x-portkey-provider'

// Letters, digits, '_', '-', '.', not starting with '.': nothing a URL path could read as another segment.
const SLUG_SHAPE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/

/**
 * The virtual-key slug a request names: `x-portkey-virtual-key: <slug>`, or the Model Catalog form
 * `x-portkey-provider: @<slug>` (a plain provider name there is no virtual key). `null` when it names
 * none. Throws `AuthError` 400 for a malformed slug, a repeated header, or two headers naming different slugs.
 */
export function readVirtualKeySlug(headers: IncomingHeaders): string | null {
  const named = single(headers[VIRTUAL_KEY_HEADER], VIRTUAL_KEY_HEADER)
  const provider = single(headers[PROVIDER_HEADER], PROVIDER_HEADER)
  const fromProvider = provider?.startsWith('@') ? provider.slice(1) : undefined
  if (named === undefined || named === '') return fromProvider === undefined ? null : checkSlug(fromProvider)
  if (fromProvider !== undefined && fromProvider !== named) {
    throw invalidRequest('x-portkey-virtual-key and x-portkey-provider name different virtual keys.')
  }
  return checkSlug(named)
}

// Node joins a repeated header into one value with ', ' (`openai, @victim`): read as a whole, that names
// no virtual key, while code downstream may read either part. No slug or provider name holds a comma.
function single(value: string | readonly string[] | undefined, name: string): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value.includes(',')) throw invalidRequest(`Send at most one ${name} header.`)
  return value
}

function checkSlug(slug: string): string {
  if (!SLUG_SHAPE.test(slug)) throw invalidRequest('Malformed virtual key slug.')
  return slug
}

/**
 * Whether a virtual-key record is usable: every field the verifier reads has its type. Anything else (a
 * `null` status, an object for a workspace id) is a garbled answer: an outage, never a rejection.
 */
export const isVirtualKeyRecord = (value: unknown): value is VirtualKeyRecord => hasShape(value, VIRTUAL_KEY_RECORD)

/**
 * Decides what a virtual-key record means for a caller of `workspaceId` who asked for `slug`: usable when it is
 * that slug, exactly (an answer for another spelling would be cached, and revoked, under a name
 * `invalidateVirtualKey()` is not given), is `active` (or has no status; `null` is not that), belongs to that
 * workspace and has not expired; 412 when `exhausted`; otherwise one and the same 403.
 */
export function virtualKeyOutcome(record: VirtualKeyRecord, slug: string, workspaceId: string, now: number): Outcome<VirtualKey> {
  if (record.slug !== slug || record.workspace_id !== workspaceId) return { reject: virtualKeyNotAllowed }
  return decide(record, now, VIRTUAL_KEY_REFUSALS, () =>
    Object.freeze({
      slug: record.slug,
      provider: record.ai_provider_name,
      status: record.status ?? 'active',
      rateLimits: parseRateLimits(record.rate_limits),
    }),
  )
}

// One 403 for an expired key and any other unusable status, as for another workspace's.
const VIRTUAL_KEY_REFUSALS = {
  expired: virtualKeyNotAllowed,
  exhausted: virtualKeyUsageLimitExceeded,
  other: virtualKeyNotAllowed,
}
