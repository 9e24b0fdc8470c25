/** A duration in milliseconds. */
export type Milliseconds = number

/** The three kinds of Portkey API key. */
export type KeyType = 'organisation-service' | 'workspace-service' | 'workspace-user'

/** One rate limit of a key, as Portkey stores it (`{ type: 'requests', unit: 'rpm', value: 100 }`). */
export interface RateLimit {
  readonly type: string
  readonly unit: string
  readonly value: number
}

/** A key's usage (budget) limit, as Portkey stores it; fields other than these are kept as they come. */
export interface UsageLimits {
  readonly credit_limit?: number | null
  readonly type?: string
  readonly [field: string]: unknown
}

/**
 * An API key record as the control plane returns it from `GET /v2/api-keys/self/details`
 * (snake_case). A custom `lookup` returns the same shape.
 */
export interface KeyRecord {
  id: string
  organisation_id: string
  scopes: string[]
  type?: KeyType | string | null
  name?: string | null
  workspace_id?: string | null
  user_id?: string | null
  /** `'active'` passes; `'exhausted'` is 412; `'expired'` is 401 `expired_api_key`; anything else 401. */
  status?: string
  defaults?: { config_id?: string | null; metadata?: Record<string, string> | null } | null
  rate_limits?: RateLimit[] | null
  usage_limits?: UsageLimits | null
  /** ISO 8601 date-time after which the key no longer works. */
  expires_at?: string | null
}

/** The virtual key a request resolved to. */
export interface VirtualKey {
  readonly slug: string
  readonly provider: string
  readonly status: string
}

/**
 * What a successful check attaches to the request: `req.portkey` (Express), `ctx.state.portkey` (Koa).
 * Frozen, and shared by every request of the same key while it is cached. It never holds the raw key.
 */
export interface PortkeyAuth {
  /** How the caller authenticated. */
  readonly method: 'api_key' | 'jwt'
  readonly keyId: string
  readonly keyType: KeyType
  readonly organisationId: string
  readonly workspaceId: string | null
  readonly userId: string | null
  /** Dotted permission strings, e.g. `completions.write`. */
  readonly scopes: readonly string[]
  /** The virtual key named by the request, or `null`. */
  readonly virtualKey: VirtualKey | null
  readonly defaults: {
    readonly configId: string | null
    readonly metadata: Readonly<Record<string, string>>
  }
  readonly rateLimits: readonly RateLimit[]
  readonly usageLimits: UsageLimits | null
  /** When the credential stops working, or `null` if it does not expire. */
  readonly expiresAt: Date | null
}

/** Request headers as Node, Express and Koa give them (names lower-cased). */
export type IncomingHeaders = Readonly<Record<string, string | readonly string[] | undefined>>

/**
 * Resolves an API key to its record, or `null` when the key is unknown. Throwing (or returning
 * something that is not a record) means the key service is unavailable: the request gets a 503.
 */
export type KeyLookup = (apiKey: string, init: { signal: AbortSignal }) => Promise<KeyRecord | null>

/** A virtual key record as the control plane returns it from `GET /v2/virtual-keys/{slug}` (snake_case). */
export interface VirtualKeyRecord {
  slug: string
  /** The provider the stored credential is for, e.g. `openai`. */
  ai_provider_name: string
  /** `'active'` passes; `'exhausted'` is 412; anything else (`'expired'`, `'archived'`) is 403. */
  status?: string
  workspace_id?: string | null
  name?: string
  /** ISO 8601 date-time after which the virtual key no longer works. */
  expires_at?: string | null
  usage_limits?: UsageLimits | null
  rate_limits?: RateLimit[] | null
}

/**
 * Resolves a virtual-key slug for a caller (whose credential the control plane checks), or `null` when
 * the caller may not use it. Throwing means the key service is unavailable.
 */
export type VirtualKeyLookup = (
  slug: string,
  init: { credential: string; signal: AbortSignal },
) => Promise<VirtualKeyRecord | null>
