import { LRUCache } from 'lru-cache'
import { type Identity, identityOf } from '../identity.js'
import { AMBIGUOUS_PATH } from '../permissions/path-shape.js'
import { invalidRequest } from '../errors.js'
import { type LimitGroup, RouteMemo } from './app-limits.js'
import type { PortkeyAuth, RequestRoute } from '../types.js'
import { keyPolicies, NONE, type Policy, policyHeader, type Unenforced, virtualKeyPolicies } from './policy.js'
import { Window } from './window.js'

/**
 * Whose counters: a caller (an API key, a JWT's user or token) or a virtual key, with one `Window` per limit;
 * `id` also names its counters in Redis. Both are identities (see `Identity`): the kind, the organisation, and for
 * a JWT the issuer first.
 */
export interface Subject {
  readonly id: readonly string[]
  policies: readonly Policy[]
  windows: Window[]
  /** `RateLimit-Policy` for `policies`, made when they are. */
  policyHeader: string
}

const NO_SUBJECTS: readonly Subject[] = Object.freeze([])

/**
 * The subjects this instance counts for, at most `max` of each kind (API keys, JWT users, virtual keys), the least
 * recently seen dropped first (a dropped one starts its windows afresh).
 */
export class Subjects {
  // One LRU per kind, each made on first use: lru-cache reserves room for `max` entries up front (a `cache.max`
  // of a million costs about 15 MiB each), which an app without limits of that kind should not pay.
  readonly #max: number
  readonly #fleet: boolean
  readonly #sliding: boolean
  readonly #unenforced: Unenforced
  #keys: LRUCache<string, Subject> | undefined
  #jwts: LRUCache<string, Subject> | undefined
  #virtualKeys: LRUCache<string, Subject> | undefined
  /** The app's own limits (`rateLimits.limits`), `null` for none. */
  readonly app: readonly LimitGroup[] | null
  /** Their subjects, one LRU per group (made on first use), by id. */
  readonly #appSubjects: (LRUCache<string, Subject> | undefined)[] = []
  /** Which of them a route counts against, when some are bound to a route. */
  readonly #routes: RouteMemo | null

  /**
   * @param fleet - whether windows are counted with Redis (each then has a `FleetLease`)
   * @param sliding - whether windows slide (`rateLimits.window: 'sliding'`)
   * @param unenforced - told of the limits that are not enforced (see `compile()`)
   * @param app - the app's own limits, grouped (`rateLimits.limits`)
   */
  constructor(max: number, fleet: boolean, sliding: boolean, unenforced: Unenforced, app: readonly LimitGroup[] | null) {
    this.#max = max
    this.#fleet = fleet
    this.#sliding = sliding
    this.#unenforced = unenforced
    this.app = app
    this.#routes = app?.some((group) => group.route !== null) ? new RouteMemo(app) : null
  }

  /** Whether some of the app's limits are bound to a route (see `RouteMemo`). */
  get routed(): boolean {
    return this.#routes !== null
  }

  /** Keys, tokens and virtual keys whose counters are held now. */
  get size(): number {
    let size = (this.#keys?.size ?? 0) + (this.#jwts?.size ?? 0) + (this.#virtualKeys?.size ?? 0)
    for (const subjects of this.#appSubjects) size += subjects?.size ?? 0
    return size
  }

  /**
   * Those a request of `auth` (on `route`, if known) counts against: its caller when its key (or token) has limits,
   * then (unless `withVirtualKey` is false) the virtual key it names when that has limits, then the groups of the
   * app's limits that apply; their windows matched to the limits. None (and nothing made) when no limit applies.
   * Throws 400 for a path a router could read as another route, when some of the app's limits are bound to a route
   * (as a scope map does): nothing is counted then.
   */
  of(auth: PortkeyAuth, withVirtualKey = true, route?: RequestRoute): readonly Subject[] {
    const applies = this.#routes?.of(route)
    if (applies === null) throw invalidRequest(AMBIGUOUS_PATH)
    const own = keyPolicies(auth, this.#unenforced)
    const vkPolicies = withVirtualKey ? virtualKeyPolicies(auth, this.#unenforced) : NONE
    if (own.length === 0 && vkPolicies.length === 0 && this.app === null) return NO_SUBJECTS
    const subjects: Subject[] = []
    const identity = identityOf(auth)
    if (own.length > 0) {
      // A JWT counts per user (issuer, organisation, user claim), not per token: fresh tokens bring no allowance.
      const jwt = auth.method === 'jwt'
      if (jwt) this.#jwts ??= this.#lru()
      else this.#keys ??= this.#lru()
      subjects.push(this.#subject(jwt ? this.#jwts! : this.#keys!, identity.name, identity.caller, own))
    }
    const virtualKey = auth.virtualKey
    if (vkPolicies.length > 0) {
      // A virtual key's allowance is the workspace's, shared by every caller of the organisation that uses it;
      // workspace ids (an API key's) and slugs (a JWT's) are told apart by the kind the tenant starts with.
      const id = ['v', ...identity.tenant, auth.workspaceId ?? '', virtualKey!.slug]
      this.#virtualKeys ??= this.#lru()
      subjects.push(this.#subject(this.#virtualKeys, JSON.stringify(id), id, vkPolicies))
    }
    if (this.app !== null) this.#appSubjectsOf(auth, identity, withVirtualKey, applies, subjects)
    return subjects
  }

  /** Adds to `subjects` those of the app's limits a request of `auth` counts against: those its route `applies` to. */
  #appSubjectsOf(
    auth: PortkeyAuth,
    identity: Identity,
    withVirtualKey: boolean,
    applies: readonly boolean[] | undefined,
    subjects: Subject[],
  ) {
    const { workspaceId, virtualKey } = auth
    const groups = this.app!
    for (let g = 0; g < groups.length; g++) {
      const group = groups[g]!
      if (applies !== undefined && !applies[g]) continue
      let id: readonly string[]
      if (group.per === 'caller') id = identity.caller
      else if (group.per === 'workspace' && workspaceId !== null) id = ['w', ...identity.tenant, workspaceId]
      else if (group.per === 'virtual_key' && withVirtualKey && virtualKey != null)
        id = ['v', ...identity.tenant, workspaceId ?? '', virtualKey.slug]
      else continue
      this.#appSubjects[g] ??= this.#lru()
      const cache = this.#appSubjects[g]!
      const name = id === identity.caller ? identity.name : JSON.stringify(id)
      subjects.push(this.#subject(cache, name, id, group.policies, group.policyHeader))
    }
  }

  /** The subjects named `name` (see `HeldCounters`) this instance holds: a caller's, a virtual key's, an app group's. */
  find(name: string): Subject[] {
    return this.#caches().flatMap((cache) => cache?.get(name) ?? [])
  }

  /** Forgets the subjects named `name`: their windows, leases and reservations start afresh. */
  forget(name: string): void {
    for (const cache of this.#caches()) cache?.delete(name)
  }

  #caches() {
    return [this.#keys, this.#jwts, this.#virtualKeys, ...this.#appSubjects]
  }

  #lru(): LRUCache<string, Subject> {
    return new LRUCache({ max: this.#max })
  }

  /** The subject named `name` in `cache`, made if new (its Redis id `id`), its windows matched to `policies` (by name) if they changed. */
  #subject(
    cache: LRUCache<string, Subject>,
    name: string,
    id: readonly string[],
    policies: readonly Policy[],
    header?: string,
  ): Subject {
    let found = cache.get(name)
    if (found === undefined) {
      found = {
        id,
        policies,
        windows: policies.map(() => new Window(this.#fleet, this.#sliding)),
        policyHeader: header ?? policyHeader(policies),
      }
      cache.set(name, found)
    } else if (found.policies !== policies) {
      const previous = new Map(found.policies.map((policy, i) => [policy.name, found!.windows[i]!]))
      found.windows = policies.map((policy) => previous.get(policy.name) ?? new Window(this.#fleet, this.#sliding))
      found.policies = policies
      found.policyHeader = policyHeader(policies)
    }
    return found
  }
}

/** The window of the limit named `name` among `subjects`, if one holds it (names are unique among a request's). */
export function windowOf(subjects: readonly Subject[], name: string): Window | undefined {
  for (const { policies, windows } of subjects) {
    const i = policies.findIndex((policy) => policy.name === name)
    if (i >= 0) return windows[i]
  }
  return undefined
}
