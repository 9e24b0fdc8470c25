import { TIMINGS } from '../options/defaults.js'

/**
 * How many parts a reservation's life is counted in: a reservation made in one part is released when the
 * `BUCKETS`-th part after it starts, so it lives more than 3/4 of `TIMINGS.tokensHoldMs` and at most all of it.
 */
const BUCKETS = 4
const BUCKET_MS = TIMINGS.tokensHoldMs / BUCKETS
/** Before a key reports any tokens, a request is estimated at the smaller of this (tokens) and… */
const FIRST_ESTIMATE_TOKENS = 1_000
/** …this share of the limit: a key's first burst admits at most 8 requests, or limit ÷ 1,000 if that is more. */
const FIRST_ESTIMATE_SHARE = 8
/** The running average moves by this share of the difference at each report (an exponential moving average). */
const AVERAGE_WEIGHT = 1 / 8

/**
 * The tokens that requests in flight of one tokens limit have reserved on this instance, and the estimate a
 * new request reserves: the running average of the tokens its key's requests reported. Reservations outlive
 * windows (a request admitted at a window's end reports into the next) and are released when their request
 * reports (`release`), or after `TIMINGS.tokensHoldMs` at the latest. Made once per limit, never per request.
 */
export class Reservations {
  /** Tokens held by requests admitted and not yet reported, nor expired. */
  #held = 0
  /** The running average of non-zero reports, tokens per request; -1 before the first. */
  #average = -1
  readonly #buckets = [0, 0, 0, 0]
  /** The part of time (`now / BUCKET_MS`) the buckets are counted up to. */
  #part = Number.NEGATIVE_INFINITY

  /** Releases what expired by `now`. A clock set back keeps the later part. */
  #advance(now: number): void {
    const part = Math.floor(now / BUCKET_MS)
    if (part <= this.#part) return
    // The buckets of the parts now begun held the parts `BUCKETS` before them: those expire.
    const begun = Math.min(part - this.#part, BUCKETS)
    for (let k = 1; k <= begun; k++) {
      const i = (part - begun + k) % BUCKETS
      this.#held -= this.#buckets[i]!
      this.#buckets[i] = 0
    }
    if (this.#held < 0) this.#held = 0
    this.#part = part
  }

  /**
   * Whether a request fits now, with `reported` tokens of `quota` reported in the window: the reported tokens,
   * plus those requests in flight hold, plus its estimate, within the quota. With nothing in flight, it is
   * refused only once the reported tokens reach the quota (as it was before any reservation).
   */
  admits(reported: number, quota: number, now: number): boolean {
    this.#advance(now)
    if (reported >= quota) return false
    return this.#held === 0 || reported + this.#held + this.estimate(quota) <= quota
  }

  /** What a request reserves against a limit of `quota` tokens: at least 1. */
  estimate(quota: number): number {
    if (this.#average >= 0) return Math.max(1, Math.ceil(this.#average))
    return Math.max(1, Math.min(FIRST_ESTIMATE_TOKENS, Math.ceil(quota / FIRST_ESTIMATE_SHARE)))
  }

  /** Holds `tokens` for a request admitted now (after `admits`); returns the part to `release` it from. */
  hold(tokens: number): number {
    this.#buckets[this.#part % BUCKETS]! += tokens
    this.#held += tokens
    return this.#part
  }

  /** Releases what a request admitted in `part` held, unless it already expired. */
  release(part: number, tokens: number): void {
    if (part > this.#part || part <= this.#part - BUCKETS) return
    const i = part % BUCKETS
    const released = Math.min(tokens, this.#buckets[i]!)
    this.#buckets[i]! -= released
    this.#held = Math.max(0, this.#held - released)
  }

  /** Learns from a request's report; a report of 0 (nothing used, or unknown) teaches nothing. */
  learn(tokens: number): void {
    if (tokens === 0) return
    this.#average = this.#average < 0 ? tokens : this.#average + (tokens - this.#average) * AVERAGE_WEIGHT
  }

  /** Milliseconds from `now` until the oldest reservation is released at the latest (0 when none is held). */
  msToRelease(now: number): number {
    for (let k = BUCKETS - 1; k >= 0; k--) {
      const part = this.#part - k
      if (this.#buckets[part % BUCKETS]! > 0) return Math.max(0, (part + BUCKETS) * BUCKET_MS - now)
    }
    return 0
  }
}
