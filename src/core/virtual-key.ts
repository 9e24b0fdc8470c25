import { type AuthError, invalidRequest, virtualKeyNotAllowed, virtualKeyUsageLimitExceeded } from './errors.js'
import type { IncomingHeaders, VirtualKey, VirtualKeyRecord } from './types.js'

export const VIRTUAL_KEY_HEADER = 'x-portkey-virtual-key'
export const PROVIDER_HEADER = 'x-portkey-provider'

// Letters, digits, '_', '-', '.', not starting with '.': nothing a URL path could read as another segment.
const SLUG_SHAPE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/

/** What a virtual-key look-up decided for one workspace: the key to attach, or a rejection. */
export type VirtualKeyOutcome =
  | { readonly virtualKey: VirtualKey; readonly expiresAtMs: number; readonly reject?: undefined }
  | { readonly virtualKey?: undefined; readonly reject: () => AuthError }

/**
 * The virtual-key slug a request names: `x-portkey-virtual-key: <slug>`, or the Model Catalog form
 * `x-portkey-provider: @<slug>` (a plain provider name there is no virtual key). `null` when it names
 * none. Throws `AuthError` 400 for a malformed slug, a repeated header, or two headers naming different slugs.
 */
export function readVirtualKeySlug(headers: IncomingHeaders): string | null {
  const named = headers[VIRTUAL_KEY_HEADER]
  const provider = headers[PROVIDER_HEADER]
  const fromProvider = typeof provider === 'string' && provider.startsWith('@') ? provider.slice(1) : undefined
  if (named === undefined || named === '') return fromProvider === undefined ? null : checkSlug(fromProvider)
  if (typeof named !== 'string') throw invalidRequest('Send at most one x-portkey-virtual-key header.')
  if (fromProvider !== undefined && fromProvider !== named) {
    throw invalidRequest('x-portkey-virtual-key and x-portkey-provider name different virtual keys.')
  }
  return checkSlug(named)
}

function checkSlug(slug: string): string {
  if (!SLUG_SHAPE.test(slug)) throw invalidRequest('Malformed virtual key slug.')
  return slug
}

/** The least a virtual-key record must hold to be trusted; anything less is a garbled answer (an outage). */
export function isVirtualKeyRecord(value: unknown): value is VirtualKeyRecord {
  if (value === null || typeof value !== 'object') return false
  const record = value as Partial<VirtualKeyRecord>
  return (
    typeof record.slug === 'string' &&
    typeof record.ai_provider_name === 'string' &&
    (record.expires_at == null || !Number.isNaN(Date.parse(record.expires_at)))
  )
}

/**
 * Decides what a virtual-key record means for a caller of `workspaceId`: usable when it is `active` (or
 * has no status), belongs to that workspace and has not expired; 412 when `exhausted`; otherwise one
 * and the same 403.
 */
export function virtualKeyOutcome(record: VirtualKeyRecord, workspaceId: string, now: number): VirtualKeyOutcome {
  const expiresAtMs = record.expires_at == null ? Infinity : Date.parse(record.expires_at)
  const status = record.status ?? 'active'
  if (record.workspace_id !== workspaceId || expiresAtMs <= now) return { reject: virtualKeyNotAllowed }
  if (status === 'exhausted') return { reject: virtualKeyUsageLimitExceeded }
  if (status !== 'active') return { reject: virtualKeyNotAllowed }
  const virtualKey = Object.freeze({ slug: record.slug, provider: record.ai_provider_name, status })
  return { virtualKey, expiresAtMs }
}
