import { LRUCache } from 'lru-cache'
import { identityOf } from '../credential/identity.js'
import { rateLimitExceeded } from '../errors.js'
import type { MaybePromise } from '../maybe-promise.js'
import { TIMINGS } from '../options/defaults.js'
import type { CheckStatus, Logger, PortkeyAuth, Quota, RateLimit, RateLimitHeaders } from '../types.js'
import type { FleetCounter } from './fleet-counter.js'
import { compile, type Policy, windowStart } from './policy.js'
import { policyHeader, RequestQuota, type Standing, secondsLeft, stateHeader } from './quota.js'
import { Reservations } from './reservations.js'

/** Counters of rate limiting, part of `verifier.stats()`. */
export interface RateLimiterStats {
  /** Keys, tokens and virtual keys whose counters this instance holds now. */
  tracked: number
  /** Requests refused with 429. */
  refused: number
  /** Batches of allowance taken from Redis. */
  leases: number
  /** Requests counted by this instance alone while Redis was away (with the `redis` option). */
  local: number
}

/** One limit's counts in its current window, on this instance. */
interface Slot {
  /** Where the window starts, epoch ms. */
  start: number
  /** Requests this instance admitted in the window. */
  used: number
  /** With Redis: the allowance Redis granted this instance in the window. */
  leased: number
  /** With Redis: the fleet's count when this instance last asked. */
  count: number
  /** Tokens reported in the window (with Redis, the fleet's total as last seen, or more). */
  tokens: number
  /** With Redis: nothing was left in the window when this instance last asked. */
  exhausted: boolean
  /** With Redis: the batch being asked for, shared by every request that waits for it. */
  pending: Promise<void> | null
  /** With Redis: until then (epoch ms), count alone: Redis failed, and is not asked again at once. */
  offlineUntil: number
  /** With Redis: when the tokens count was last read from the fleet. */
  syncedAt: number
  /** A tokens limit's reservations by requests in flight on this instance, made on first use; kept across windows. */
  reservations: Reservations | null
}

/**
 * Whose counters: a caller (an API key, a JWT's user or token) or a virtual key; `id` also names its counters
 * in Redis. Both are identities (see `Identity`): the kind, the organisation, and for a JWT the issuer first.
 */
interface Subject {
  readonly id: readonly string[]
  policies: readonly Policy[]
  slots: Slot[]
  /** `RateLimit-Policy` for `policies`, made when they are. */
  policyHeader: string
}

const NONE: readonly Policy[] = Object.freeze([])
const UNIT_WORDS: Readonly<Record<string, string>> = { rpm: 'minute', rph: 'hour', rpd: 'day', rpw: 'week' }
const WHOSE = { api_key: 'this API key', user: 'this user', token: 'this token' } as const

const newSlot = (): Slot => ({
  start: Number.NEGATIVE_INFINITY,
  used: 0,
  leased: 0,
  count: 0,
  tokens: 0,
  exhausted: false,
  pending: null,
  offlineUntil: 0,
  syncedAt: 0,
  reservations: null,
})

/**
 * Moves a slot to the window holding `now`, emptied, if that window is later than the slot's. A clock set
 * back (an NTP step) keeps counting in the later window rather than handing out an earlier one afresh.
 */
function roll(slot: Slot, policy: Policy, now: number): Slot {
  const start = windowStart(policy, now)
  if (start > slot.start) {
    slot.start = start
    slot.used = slot.leased = slot.count = slot.tokens = slot.syncedAt = 0
    slot.exhausted = false
  }
  return slot
}

/** Settings of the limiter. */
export interface RateLimiterOptions {
  /** Most keys, tokens and virtual keys (each) whose counters are kept; the least recently seen go first. */
  readonly max: number
  /** Whether contexts and 429s carry `RateLimit-Policy` and `RateLimit`. */
  readonly headers: boolean
  /** Counters shared by the fleet, or `null` to count on this instance alone. */
  readonly fleet: FleetCounter | null
  readonly logger: Logger
}

/**
 * Enforces the rate limits of API keys, tokens and virtual keys, in fixed, clock-aligned windows (see
 * `Policy`). Alone, it counts in memory. With a `FleetCounter`, an instance takes batches of a window's
 * allowance from Redis (an eighth of what is left, at most `TIMINGS.leaseMax`) and admits from its batch without a round
 * trip; so the fleet never admits more than the limit, and may refuse early by what other instances hold
 * unused. While Redis is away it counts alone (each instance up to the whole limit), and owes Redis what it
 * admitted when Redis is back. Tokens limits count reported tokens (with Redis, the fleet's), and each admitted
 * request reserves an estimate of its tokens on this instance until it reports (see `Reservations`).
 */
export class RateLimiter {
  // One LRU per kind, each made on first use: lru-cache reserves room for `max` entries up front (a `cache.max`
  // of a million costs about 15 MiB each), which an app without limits of that kind should not pay.
  readonly #max: number
  #keys: LRUCache<string, Subject> | undefined
  #tokens: LRUCache<string, Subject> | undefined
  #virtualKeys: LRUCache<string, Subject> | undefined
  readonly #headers: boolean
  readonly #fleet: FleetCounter | null
  readonly #logger: Logger
  readonly #warned = new Set<string>()
  readonly #counts = { refused: 0, leases: 0, local: 0 }
  readonly #unenforced = (limit: RateLimit) => {
    const what = `${String(limit.type)}/${String(limit.unit)}`
    if (this.#warned.has(what) || this.#warned.size > 100) return
    this.#warned.add(what)
    this.#logger.warn(
      `portkey-auth: a rate limit of type "${String(limit.type)}", unit "${String(limit.unit)}" is not enforced (known: requests or tokens; rpm, rph, rpd, rpw; a value ≥ 0)`,
    )
  }

  constructor({ max, headers, fleet, logger }: RateLimiterOptions) {
    this.#max = max
    this.#headers = headers
    this.#fleet = fleet
    this.#logger = logger
  }

  stats(): RateLimiterStats {
    const tracked = (this.#keys?.size ?? 0) + (this.#tokens?.size ?? 0) + (this.#virtualKeys?.size ?? 0)
    return { tracked, ...this.#counts }
  }

  /**
   * Counts one request of `auth` against its limits and returns `auth`, having noted in `status` (when given and
   * a limit applies) how it counted and the request's `quota`. Throws 429 `rate_limit_exceeded` when a limit is
   * reached (the request is then counted nowhere). A promise only when a batch must be asked of Redis.
   */
  admit(auth: PortkeyAuth, now: number, status: CheckStatus | undefined): MaybePromise<PortkeyAuth> {
    const keyPolicies = auth.rateLimits.length === 0 ? NONE : compile(auth.rateLimits, 'api_key', this.#unenforced)
    const virtualKey = auth.virtualKey
    const vkPolicies =
      virtualKey === null || virtualKey.rateLimits.length === 0
        ? NONE
        : compile(virtualKey.rateLimits, 'virtual_key', this.#unenforced)
    if (keyPolicies.length === 0 && vkPolicies.length === 0) return auth
    const subjects = this.#subjects(auth, keyPolicies, vkPolicies)
    return this.#take(auth, subjects, now, status, 0)
  }

  /**
   * Throws the 429 `admit()` would throw for `auth`'s own limits (its key's or token's, not a virtual key's)
   * when, as far as this instance knows, one is already reached; counts nothing. The pipeline asks before it
   * looks a virtual key up, so a caller at its limit makes the control plane do no work for it.
   */
  check(auth: PortkeyAuth, now: number): void {
    if (auth.rateLimits.length === 0) return
    const policies = compile(auth.rateLimits, 'api_key', this.#unenforced)
    if (policies.length === 0) return
    const subjects = this.#subjects(auth, policies, NONE)
    const { slots } = subjects[0]!
    let refused: Policy[] | null = null
    for (let i = 0; i < policies.length; i++) {
      const policy = policies[i]!
      const slot = roll(slots[i]!, policy, now)
      const reached =
        policy.type === 'tokens'
          ? slot.tokens >= policy.quota
          : this.#fleet === null || now < slot.offlineUntil || !this.#fleet.connected
            ? slot.used >= policy.quota
            : slot.used >= slot.leased && slot.exhausted
      if (reached) refused = push(refused, policy)
    }
    if (refused !== null) throw this.#refuse(auth, subjects, refused, now)
  }

  /**
   * Gives back what `admit()` counted for the request whose context `auth` was (its `quota` made at `at`), when
   * it was refused after all (`requirePermissions()`): one request of each requests limit, if its window is
   * still the one it was counted in. With Redis the request goes back to this instance's batch, for its next
   * requests; the fleet's count is not lowered.
   */
  refund(auth: PortkeyAuth, at: number): void {
    const keyPolicies = compile(auth.rateLimits, 'api_key', this.#unenforced)
    const vkPolicies = auth.virtualKey === null ? NONE : compile(auth.virtualKey.rateLimits, 'virtual_key', this.#unenforced)
    for (const { policies, slots } of this.#subjects(auth, keyPolicies, vkPolicies)) {
      for (let i = 0; i < policies.length; i++) {
        const slot = slots[i]!
        if (policies[i]!.type === 'requests' && slot.start === windowStart(policies[i]!, at) && slot.used > 0) slot.used--
      }
    }
  }

  /**
   * `verifier.reportTokens()`: through the request's quota when `of` is one (`Quota#reportTokens`), else counted
   * for the context `of`, with no reservation released.
   */
  reportTokens(of: PortkeyAuth | Quota, tokens: number): Promise<boolean> {
    return of instanceof RequestQuota ? of.reportTokens(tokens) : this.countTokens(of as PortkeyAuth, tokens, null)
  }

  /**
   * Adds `tokens` to the tokens limits of the key and virtual key of `auth`, and settles the reservations of the
   * request whose quota `quota` is, once.
   */
  async countTokens(auth: PortkeyAuth, tokens: number, quota: RequestQuota | null): Promise<boolean> {
    if (!this.#takesReport(auth, tokens)) return false
    RequestQuota.settle(quota, tokens)
    const keyPolicies = compile(auth.rateLimits, 'api_key', this.#unenforced)
    const vkPolicies = auth.virtualKey === null ? NONE : compile(auth.virtualKey.rateLimits, 'virtual_key', this.#unenforced)
    if (tokens === 0 || ![...keyPolicies, ...vkPolicies].some((policy) => policy.type === 'tokens')) return true
    const now = Date.now()
    const shared: Promise<void>[] = []
    for (const subject of this.#subjects(auth, keyPolicies, vkPolicies)) {
      subject.policies.forEach((policy, i) => {
        if (policy.type !== 'tokens') return
        const slot = roll(subject.slots[i]!, policy, now)
        slot.tokens += tokens
        const fleet = this.#fleet
        if (fleet === null || now < slot.offlineUntil || !fleet.connected) return
        const { start } = slot
        const counted = fleet.add(fleet.key(subject.id, policy.name, start), tokens, policy.quota, start + policy.windowMs).then(
          (total) => {
            if (slot.start === start) slot.tokens = Math.max(slot.tokens, total)
          },
          () => {
            slot.offlineUntil = Date.now() + TIMINGS.rateLimitOfflineMs
          },
        )
        shared.push(counted)
      })
    }
    await Promise.all(shared)
    return true
  }

  /**
   * Whether a report is for a context and a whole number of tokens, 0 or more. A misuse is logged (once per
   * verifier) and refused, never thrown: a report is usually made after the response, un-awaited, where a
   * rejection would be unhandled and end the process.
   */
  #takesReport(auth: PortkeyAuth | undefined, tokens: unknown): boolean {
    const context = typeof auth === 'object' && auth !== null && Array.isArray(auth.rateLimits)
    if (context && Number.isSafeInteger(tokens) && (tokens as number) >= 0) return true
    if (!this.#warned.has('reportTokens')) {
      this.#warned.add('reportTokens')
      const got = context
        ? typeof tokens === 'number'
          ? String(tokens)
          : `a ${typeof tokens}`
        : `neither a quota nor a context (${auth === null ? 'null' : typeof auth})`
      this.#logger.warn(
        `portkey-auth: reportTokens() takes a request's quota (or context) and a whole number of tokens, 0 or more; got ${got}: not counted (logged once)`,
      )
    }
    return false
  }

  #subjects(auth: PortkeyAuth, keyPolicies: readonly Policy[], vkPolicies: readonly Policy[]): Subject[] {
    const subjects: Subject[] = []
    const identity = identityOf(auth)
    if (keyPolicies.length > 0) {
      // A JWT counts per user (issuer, organisation, user claim), not per token: fresh tokens bring no allowance.
      const jwt = auth.method === 'jwt'
      if (jwt) this.#tokens ??= this.#lru()
      else this.#keys ??= this.#lru()
      subjects.push(subject(jwt ? this.#tokens! : this.#keys!, identity.name, identity.caller, keyPolicies))
    }
    const virtualKey = auth.virtualKey
    if (vkPolicies.length > 0 && virtualKey !== null) {
      // A virtual key's allowance is the workspace's, shared by every caller of the organisation that uses it;
      // workspace ids (an API key's) and slugs (a JWT's) are told apart by the kind the tenant starts with.
      const id = ['v', ...identity.tenant, auth.workspaceId ?? '', virtualKey.slug]
      this.#virtualKeys ??= this.#lru()
      subjects.push(subject(this.#virtualKeys, JSON.stringify(id), id, vkPolicies))
    }
    return subjects
  }

  /** The two headers for these standings, or `null` when `rateLimits.headers` is off. */
  #render(subjects: Subject[], standings: readonly Standing[]): RateLimitHeaders | null {
    return this.#headers ? { 'ratelimit-policy': policiesOf(subjects), ratelimit: stateHeader(standings) } : null
  }

  #lru(): LRUCache<string, Subject> {
    return new LRUCache({ max: this.#max })
  }

  #take(
    auth: PortkeyAuth,
    subjects: Subject[],
    now: number,
    status: CheckStatus | undefined,
    round: number,
  ): MaybePromise<PortkeyAuth> {
    const fleet = this.#fleet
    // Made only when needed: a request within its limits allocates neither.
    let refused: Policy[] | null = null
    let batches: Promise<void>[] | null = null
    let alone = fleet === null
    for (const subject of subjects) {
      const { policies, slots } = subject
      for (let i = 0; i < policies.length; i++) {
        const policy = policies[i]!
        const slot = roll(slots[i]!, policy, now)
        if (policy.type === 'tokens') {
          slot.reservations ??= new Reservations()
          if (!slot.reservations.admits(slot.tokens, policy.quota, now)) refused = push(refused, policy)
          else if (fleet !== null && now - slot.syncedAt >= TIMINGS.tokensSyncMs)
            this.#syncTokens(fleet, subject, policy, slot, now)
        } else if (fleet === null) {
          if (slot.used >= policy.quota) refused = push(refused, policy)
        } else if (slot.used < slot.leased) {
          // Within this instance's batch: no round trip.
        } else if (slot.exhausted) {
          refused = push(refused, policy)
        } else if (now < slot.offlineUntil || !fleet.connected) {
          alone = true
          if (slot.used >= policy.quota) refused = push(refused, policy)
        } else {
          slot.pending ??= this.#lease(fleet, subject, policy, slot)
          batches = push(batches, slot.pending)
        }
      }
    }
    if (refused === null && batches !== null && round < TIMINGS.leaseRounds) {
      return Promise.all(batches).then((): MaybePromise<PortkeyAuth> => this.#take(auth, subjects, Date.now(), status, round + 1))
    }
    if (status !== undefined) status.counting = alone ? 'local' : 'fleet'
    if (refused !== null || batches !== null) throw this.#refuse(auth, subjects, refused ?? [], now)
    if (fleet !== null && alone) this.#counts.local++
    for (const { policies, slots } of subjects) {
      for (let i = 0; i < policies.length; i++) if (policies[i]!.type === 'requests') slots[i]!.used++
    }
    const standings = standingsOf(subjects, now, fleet !== null && !alone, true)
    if (status !== undefined) {
      status.quota = new RequestQuota(standings, alone ? 'local' : 'fleet', this.#render(subjects, standings), this, auth, now)
    }
    return auth
  }

  #refuse(auth: PortkeyAuth, subjects: Subject[], refused: Policy[], now: number) {
    this.#counts.refused++
    const standings = standingsOf(subjects, now, this.#fleet !== null)
    // Ran out of rounds (every batch taken by other requests first): refuse as if exhausted.
    const reached = refused.length > 0 ? refused : [standings.find((s) => s.policy.type === 'requests')!.policy]
    let retryAfter = 1
    for (const policy of reached) {
      const slot = slotOf(subjects, policy)
      let seconds = secondsLeft(policy, slot.start, now)
      // Refused for what requests in flight reserved: their reports, or the reservations expiring, free it sooner.
      if (policy.type === 'tokens' && slot.tokens < policy.quota) {
        seconds = Math.min(seconds, Math.max(1, Math.ceil(slot.reservations!.msToRelease(now) / 1000)))
      }
      retryAfter = Math.max(retryAfter, seconds)
    }
    const first = reached[0]!
    const whose = first.scope === 'virtual_key' ? 'this virtual key' : WHOSE[identityOf(auth).counted]
    const what = `${first.quota} ${first.type} per ${UNIT_WORDS[first.unit]} for ${whose}`
    return rateLimitExceeded(what, retryAfter, this.#render(subjects, standings))
  }

  async #lease(fleet: FleetCounter, subject: Subject, policy: Policy, slot: Slot): Promise<void> {
    const { start } = slot
    // What this instance admitted beyond its batches (alone, while Redis was away) is owed to the fleet.
    const owed = Math.max(1, slot.used - slot.leased + 1)
    try {
      const { granted, count } = await fleet.lease(
        fleet.key(subject.id, policy.name, start),
        owed,
        policy.quota,
        start + policy.windowMs,
      )
      this.#counts.leases++
      if (slot.start !== start) return
      slot.leased += granted
      slot.count = count
      slot.exhausted = count >= policy.quota
    } catch {
      slot.offlineUntil = Date.now() + TIMINGS.rateLimitOfflineMs
    } finally {
      slot.pending = null
    }
  }

  #syncTokens(fleet: FleetCounter, subject: Subject, policy: Policy, slot: Slot, now: number): void {
    slot.syncedAt = now
    const { start } = slot
    fleet.read(fleet.key(subject.id, policy.name, start)).then(
      (total) => {
        // `Infinity` for a corrupted count: the window is spent (see `FleetCounter#read`).
        if (slot.start === start && total > slot.tokens) slot.tokens = total
      },
      () => {},
    )
  }
}

/**
 * The subject named `name` in `cache`, made if new (its Redis id `id`), its slots matched to `policies` (by
 * name) if they changed.
 */
function subject(cache: LRUCache<string, Subject>, name: string, id: readonly string[], policies: readonly Policy[]): Subject {
  let found = cache.get(name)
  if (found === undefined) {
    found = { id, policies, slots: policies.map(newSlot), policyHeader: policyHeader(policies) }
    cache.set(name, found)
  } else if (found.policies !== policies) {
    const previous = new Map(found.policies.map((policy, i) => [policy.name, found!.slots[i]!]))
    found.slots = policies.map((policy) => previous.get(policy.name) ?? newSlot())
    found.policies = policies
    found.policyHeader = policyHeader(policies)
  }
  return found
}

/** `RateLimit-Policy` for the subjects of a request: the key's limits, then the virtual key's. */
const policiesOf = (subjects: Subject[]): string =>
  subjects.length === 1 ? subjects[0]!.policyHeader : subjects.map((s) => s.policyHeader).join(', ')

function slotOf(subjects: Subject[], policy: Policy): Slot {
  for (const { policies, slots } of subjects) {
    const i = policies.indexOf(policy)
    if (i >= 0) return slots[i]!
  }
  throw new Error('unreachable: a policy without its slot')
}

/** `list` with `item` added: a new list when there was none. */
function push<T>(list: T[] | null, item: T): T[] {
  if (list === null) return [item]
  list.push(item)
  return list
}

/** Every limit's numbers now, the key's then the virtual key's; `admitted`: each tokens limit reserves its estimate. */
function standingsOf(subjects: Subject[], now: number, shared: boolean, admitted = false): Standing[] {
  const standings: Standing[] = []
  for (const { policies, slots } of subjects) {
    for (let i = 0; i < policies.length; i++) standings.push(standing(policies[i]!, slots[i]!, now, shared, admitted))
  }
  return standings
}

/** A limit's numbers now. With Redis, what is left is this instance's view (see `RateLimitStatus`). */
function standing(policy: Policy, slot: Slot, now: number, shared: boolean, admitted: boolean): Standing {
  const resetSeconds = secondsLeft(policy, slot.start, now)
  if (policy.type === 'tokens') {
    const remaining = Math.max(0, policy.quota - slot.tokens)
    const reservations = slot.reservations
    if (!admitted || reservations === null) return { policy, remaining, resetSeconds }
    const held = reservations.estimate(policy.quota)
    return { policy, remaining, resetSeconds, reservations, held, part: reservations.hold(held) }
  }
  let remaining = policy.quota - slot.used
  if (shared && slot.count > 0) remaining = Math.min(remaining, policy.quota - slot.count + slot.leased - slot.used)
  return { policy, remaining: Math.max(0, remaining), resetSeconds }
}
