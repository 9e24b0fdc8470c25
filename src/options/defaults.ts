/**
 * Every default of the package, and the built-in timings and limits no option changes, in one table.
 * Durations are in milliseconds unless their name says otherwise. The options' TSDoc quotes these.
 */
export const DEFAULTS = Object.freeze({
  /** Portkey's control plane, when neither `controlPlaneUrl` nor env `PORTKEY_CONTROL_PLANE_URL` names one. */
  controlPlaneUrl: 'https://api.portkey.ai',
  /**
   * Read the credential from `Authorization: Bearer` too, when `x-portkey-api-key` is absent: off, since that
   * header often carries a provider's key or the app's own token, which must not go to the key service.
   */
  bearer: false,
  /** One control-plane call, a retry of a dropped connection included. */
  timeoutMs: 2_000,
  /** Look-ups (distinct keys) under way at once; a miss beyond is a 503 at once. */
  maxPendingLookups: 256,
  breaker: Object.freeze({
    /** Failed look-ups in a row that open the breaker. */
    failureThreshold: 5,
    /** How long an open breaker answers misses with 503 before one probe call. */
    cooldownMs: 5_000,
  }),
  cache: Object.freeze({
    /** Entries in all; a tenth of them (`negativeShare`) is kept for "unknown key" answers. */
    max: 10_000,
    /** Fresh life of an answer about a known key. */
    ttlMs: 60_000,
    /** After `ttlMs`, how long an entry may still be served (while refreshing, or while the key service fails). */
    staleMs: 600_000,
    /** Life of an "unknown key" answer. */
    negativeTtlMs: 10_000,
  }),
  redis: Object.freeze({
    /** Start of every Redis key and of the channel (then a digest of the settings, see `namespace`). */
    prefix: 'portkey-auth:',
    /** One Redis command; past it the verifier goes on without Redis. */
    timeoutMs: 250,
  }),
  jwt: Object.freeze({
    /** Accepted signature algorithms: Portkey's service signs with RS256 only. */
    algorithms: Object.freeze(['RS256']),
    /** Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. */
    clockToleranceSec: 5,
  }),
})

/** Built-in timings: not options, documented here so that none hides in the code. */
export const TIMINGS = Object.freeze({
  /** The fleet-wide look-up lock lives for `timeoutMs` plus this: a look-up with its retry, and a little more. */
  lockMarginMs: 1_000,
  /** How often an instance waiting for another's look-up reads Redis again. */
  lockPollMs: 20,
  /** The pause before retrying a refused or reset connection: a random time between these, within `timeoutMs`. */
  retryJitterMs: Object.freeze({ min: 10, max: 50 }),
  /** While the revocation channel is lost, how often a probe checks whether it is back (a cluster also relearns its slots). */
  redisProbeMs: 200,
  /**
   * While the revocation channel seems fine, how often each instance sends itself a message through it: one
   * that has not come back by the next beat means the channel is lost (a stalled or half-open connection
   * raises no error), and the instance forgets what it cached. A revocation resolves `2 ×` this plus the Redis
   * timeout after its message went out, when every instance that missed it has noticed.
   */
  redisHeartbeatMs: 500,
  /** How long `verifier.close()` lets a Redis connection finish its commands before ending it at once. */
  redisCloseMs: 1_000,
  /**
   * After a command failed or timed out, how often the connection checks whether Redis is whole again; a
   * cluster relearns then which master serves which slot (a replica may have been promoted).
   */
  redisRediscoverMs: 500,
  /**
   * A revocation through Redis (`invalidate()` and the like) is tried at most this many times (deletion and
   * marker, message, and on a cluster or Sentinel the replica's confirmation) before it rejects.
   */
  revokeAttempts: 4,
  /** The pause before the first retry of a revocation; it doubles before each next one (100, 200, 400 ms). */
  revokeRetryMs: 100,
  /**
   * No retry of a revocation starts once this long has passed since the call: with the default `redis.timeoutMs`
   * it settles within this plus one attempt (at most two commands' timeouts and half a timeout of `WAIT`).
   */
  revokeBudgetMs: 2_000,
  /**
   * How far instances' clocks may disagree: an answer from Redis asked of the control plane less than this
   * after a revocation marker was set is not taken on trust (asked again), since it may predate the revocation.
   */
  clockSkewMs: 1_000,
  /**
   * The longest a request of a key with a tokens limit holds its reservation (its estimated tokens, see the
   * README's Rate limits) when it never reports: released between 3/4 of this and this after it was admitted.
   */
  tokensHoldMs: 60_000,
  /**
   * After a rate limiter's Redis call fails (a batch, a tokens report), how long that limit is counted by this
   * instance alone before Redis is asked again.
   */
  rateLimitOfflineMs: 1_000,
  /** With Redis, how often at most an instance reads the fleet's count of a tokens limit it checks. */
  tokensSyncMs: 1_000,
  /**
   * Rounds (each a Redis round trip) of asking Redis for a batch of a requests limit before a request is refused:
   * a round ends with a batch granted (which the requests waiting share, in arrival order), nothing left, or Redis
   * away, so each round is progress for the fleet; the bound only caps one request's wait under heavy contention.
   */
  leaseRounds: 64,
  /** The largest batch of a requests limit's window one instance takes from Redis at once, in requests. */
  leaseMax: 256,
  /** A rate-limit counter in Redis outlives its window by this much, for instances' clocks a little apart. */
  rateLimitExpiryMarginMs: 60_000,
  /** The share of `cache.max` kept for "unknown key" answers, so a flood of random keys evicts only its own. */
  negativeShare: 0.1,
})

/** Upper bounds of the options and of what is read, each with the reason it exists. */
export const LIMITS = Object.freeze({
  /** Node's timers hold at most 2^31 - 1 ms. */
  timeoutMs: 2_147_483_647,
  /** lru-cache reserves room for `max` entries up front: past this a typo costs gigabytes, or the process. */
  cacheMax: 10_000_000,
  /** Look-ups under way at once: each is a socket to the key service; past this a typo floods it. */
  maxPendingLookups: 100_000,
  /**
   * A day, for `cache.ttlMs`, `cache.staleMs` and `cache.negativeTtlMs`: an answer trusted longer outlives the
   * revocations and key changes the cache exists to catch up with (and Redis's expiries and revocation markers
   * are made from these).
   */
  cacheTtlMs: 86_400_000,
  /** Failed look-ups in a row that open the breaker: past this it never opens in practice. */
  breakerFailures: 1_000_000,
  /** An hour: a breaker open longer than that is an outage made by configuration. */
  breakerCooldownMs: 3_600_000,
  /** A Redis command slower than a minute is no cache. */
  redisTimeoutMs: 60_000,
  /** Five minutes, RFC 7519's "a few minutes"; more keeps every token alive that long past its `exp`. */
  clockToleranceSec: 300,
  /** Longest credential accepted, in bytes: API keys are far shorter; JWTs with many claims fit. */
  credentialBytes: 4_096,
  /** Most bytes read of one control-plane answer: a record is a few hundred bytes. */
  controlPlaneBodyBytes: 1_048_576,
  /**
   * Verifiers `authenticate()` makes for options of one shape that differ only in functions or clients made
   * anew: more means the options are written inline with an inline function, a verifier per request.
   */
  authenticateVerifiers: 16,
  /**
   * Virtual-key look-ups (slugs not in the cache) one caller may make in a minute, per instance: past it, 429
   * with no look-up, so a caller naming ever new slugs cannot make the control plane work for it.
   */
  virtualKeyLookups: 60,
})
