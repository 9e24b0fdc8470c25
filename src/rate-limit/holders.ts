import { apiKeyIdentity, jwtIdentity, pseudonym } from '../identity.js'
import type { LimitHolder, RateLimitUnit } from '../types.js'
import type { LimitGroup } from './app-limits.js'
import { type Policy, WINDOW_SECONDS } from './policy.js'

const UNITS = Object.keys(WINDOW_SECONDS) as RateLimitUnit[]
const TYPES = ['requests', 'tokens'] as const

/** Every limit a record can give, under its name (`rpm`, `tokens-rpd`, `vk-rpw`…): the counters a holder may have. */
function recordPolicies(virtualKey: boolean): Policy[] {
  return TYPES.flatMap((type) =>
    UNITS.map((unit) => {
      const name = `${virtualKey ? 'vk-' : ''}${type === 'tokens' ? 'tokens-' : ''}${unit}`
      const scope = virtualKey ? 'virtual_key' : 'api_key'
      return { scope, type, unit, quota: 0, windowMs: WINDOW_SECONDS[unit] * 1000, name, stateKey: '' } as const
    }),
  )
}

/** Whose counters a holder names, as the limiter keys them, and the limits (by name) they may be counted under. */
export interface HeldCounters {
  /** The subject's id (see `Subject`), and its name in the limiter's maps: `JSON.stringify(id)`. */
  readonly id: readonly string[]
  readonly name: string
  readonly policies: readonly Policy[]
}

const text = (value: unknown): value is string => typeof value === 'string' && value !== ''

/**
 * The counters of `holder` (`verifier.rateLimitStanding()`, `resetRateLimits()`): an API key's, a JWT user's (its
 * issuer, organisation and user claim, as the tokens carry them), a virtual key's or a workspace's; for the last two,
 * those of the API keys' counters, or with `issuer`, those of that issuer's JWTs. Throws a `TypeError` for anything
 * else.
 */
export function heldCounters(holder: LimitHolder, app: readonly LimitGroup[] | null): HeldCounters {
  const given = (typeof holder === 'object' && holder !== null ? holder : {}) as Partial<Record<string, unknown>>
  const { organisationId, issuer, workspaceId } = given
  const appPolicies = (per: LimitGroup['per']) => (app ?? []).filter((g) => g.per === per).flatMap((g) => g.policies)
  if (!text(organisationId) || (issuer !== undefined && !text(issuer))) throw wrongHolder(holder)
  const tenant = issuer === undefined ? ['key', organisationId] : ['jwt', issuer, organisationId]
  let id: readonly string[]
  let policies: readonly Policy[]
  if (text(given.keyId) && issuer === undefined) {
    id = apiKeyIdentity(organisationId, given.keyId).caller
    policies = [...recordPolicies(false), ...appPolicies('caller')]
  } else if (text(given.user) && issuer !== undefined) {
    const claim = given.claim ?? 'sub'
    if (claim !== 'sub' && claim !== 'uid' && claim !== 'email_id') throw wrongHolder(holder)
    const user = pseudonym([issuer, organisationId, claim, given.user])
    id = jwtIdentity(issuer, organisationId, user, '').caller
    policies = [...recordPolicies(false), ...appPolicies('caller')]
  } else if (text(given.virtualKey) && text(workspaceId)) {
    id = ['v', ...tenant, workspaceId, given.virtualKey]
    policies = [...recordPolicies(true), ...appPolicies('virtual_key')]
  } else if (text(workspaceId) && given.virtualKey === undefined && given.keyId === undefined && given.user === undefined) {
    id = ['w', ...tenant, workspaceId]
    policies = appPolicies('workspace')
  } else throw wrongHolder(holder)
  return { id, name: JSON.stringify(id), policies }
}

const wrongHolder = (holder: unknown) =>
  new TypeError(
    'portkey-auth: a rate-limit holder is { organisationId, keyId }, { organisationId, issuer, user, claim? }, ' +
      `{ organisationId, workspaceId, virtualKey, issuer? } or { organisationId, workspaceId, issuer? }, got ${JSON.stringify(holder) ?? typeof holder}`,
  )
