import { unref } from '../platform/timers.js'
import type { CommandLink } from './command-link.js'

/** The most this instance's clock and Redis's may differ by, in milliseconds, for Redis's to be taken: a day. */
const MAX_OFFSET_MS = 86_400_000

/** What `TIME` answers: seconds and microseconds, whole numbers (node-redis gives them as strings). */
const TIME = /^(\d{1,11}),(\d{1,6})$/

/**
 * Redis's clock, as this instance reads it (`fleetClock()`): with Redis, the rate limits' windows follow it, so that
 * instances whose clocks drift apart still count in the same windows, and the same Redis keys.
 */
export interface FleetClock {
  /**
   * Milliseconds to add to this instance's clock (`Date.now()`) for Redis's, a whole number: 0 until the first
   * reading, the last reading while Redis is away.
   */
  readonly offset: number
  /** Stops reading (`verifier.close()`); the offset stays. */
  close(): void
}

/**
 * Reads Redis's clock through `redis`: `offset` is `TIME` less this instance's clock at the midpoint of the round
 * trip. A timer (`unref`'d) looks once a second: it reads when Redis is up and it has no reading yet, a minute after
 * the last one, and at once when Redis came back since (`CommandLink#epoch`: a failover may bring another clock). A
 * request never waits for it, and nothing it does throws. A failed reading is tried again once Redis answers; a
 * reply that is not `TIME`'s, or one more than a day from this instance's clock, is ignored (read again a minute
 * later). Within that, the offset may move by any amount at once:
 * Redis is the reference, and an instance far off is the one to correct soonest; a step back never hands out a window
 * again (`Window#roll` keeps the later one), and one reading is off by at most half a round trip.
 */
export function fleetClock(redis: CommandLink): FleetClock {
  /** `CommandLink#epoch` at the last reading; `NaN`, which nothing equals, before the first. */
  let epochRead = Number.NaN
  /** Looks since the last reading (or attempt). */
  let looks = 0
  let reading = false
  const timer = setInterval(() => {
    const epoch = redis.epoch
    // Read again every 60 looks (a minute).
    if (reading || !redis.connected || (epoch === epochRead && ++looks < 60)) return
    reading = true
    looks = 0
    const sent = Date.now()
    redis
      .command(['TIME'])
      .then(
        (reply) => {
          const time = TIME.exec(String(Array.isArray(reply) ? reply : ''))
          epochRead = epoch
          const offset = time === null ? Number.NaN : Math.round(+time[1]! * 1000 + +time[2]! / 1000 - (sent + Date.now()) / 2)
          // More than a day apart, one of the two clocks is broken: Redis's is not taken (windows far in the future
          // would hold every caller's allowance until then).
          if (Math.abs(offset) <= MAX_OFFSET_MS) clock.offset = offset
        },
        () => {},
      )
      .finally(() => {
        reading = false
      })
  }, 1_000)
  unref(timer)
  const clock = {
    offset: 0,
    close() {
      clearInterval(timer)
    },
  }
  return clock
}
