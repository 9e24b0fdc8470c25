import { identityOf } from '../identity.js'
import { type AuthError, rateLimitExceeded } from '../errors.js'
import type { PortkeyAuth } from '../types.js'
import { RECORD_NAME } from './app-limits.js'
import type { Policy } from './policy.js'
import { headersOf, standingsOf } from './quota.js'
import { type Subject, windowOf } from './subjects.js'

const UNIT_WORDS: Readonly<Record<string, string>> = { rpm: 'minute', rph: 'hour', rpd: 'day', rpw: 'week' }
const WHOSE = { api_key: 'this API key', user: 'this user', token: 'this token' } as const

/**
 * The 429 `rate_limit_exceeded` for a request of `auth` that the limits `refused` refuse, none of them
 * counted. Its `Retry-After` is when the last refusing window ends, or, for a tokens limit refused for what requests
 * in flight reserved, when their reservations are released at the latest. `shared`: counted with Redis; `headers`:
 * `RateLimit-Policy` and `RateLimit` too.
 */
export function refusal(
  auth: PortkeyAuth,
  subjects: readonly Subject[],
  refused: readonly Policy[],
  now: number,
  shared: boolean,
  headers: boolean,
): AuthError {
  const standings = standingsOf(subjects, now, shared)
  let retryAfter = 1
  for (const policy of refused) {
    const window = windowOf(subjects, policy.name)!
    let seconds = Math.max(1, Math.ceil(window.msToRoom(policy, now) / 1000))
    // Refused by what requests in flight reserved (not by reported tokens, nor, sliding, by the window before's
    // weight): room comes back as they report.
    if (policy.type === 'tokens' && window.tokens + window.carried(policy, now) < policy.quota) {
      seconds = Math.min(seconds, Math.max(1, Math.ceil(window.reservations!.msToRelease(now) / 1000)))
    }
    retryAfter = Math.max(retryAfter, seconds)
  }
  const first = refused[0]!
  const whose = first.scope === 'api_key' ? WHOSE[identityOf(auth).counted] : `this ${first.scope.replace('_', ' ')}`
  // An app's limit (`rateLimits.limits`) is named: the app knows it by its name.
  const named = RECORD_NAME.test(first.name) ? '' : ` ("${first.name}")`
  const what = `${first.quota} ${first.type} per ${UNIT_WORDS[first.unit]} for ${whose}${named}`
  return rateLimitExceeded(what, retryAfter, headers ? headersOf(subjects, standings) : null)
}
