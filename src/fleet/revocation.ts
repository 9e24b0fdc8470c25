import { type Answer, isAnswer } from '../cache/answers.js'
import { RedisUnavailable } from '../errors.js'
import { TIMINGS } from '../options/defaults.js'
import { sleep } from '../platform/timers.js'

/**
 * Deletes a name's answer and lock and sets its revocation marker (the time of the revocation, epoch ms),
 * in one step: all three share the name's hash tag, so one slot of a cluster. The marker outlives every
 * answer that could have been asked before it, so a reader can tell such an answer from a newer one.
 */
export const REVOKE = `redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
return 1`

/** Why a revocation is not known done: what failed, in a few words (never a credential). */
export class RevocationUnconfirmed extends RedisUnavailable {
  override name = 'RevocationUnconfirmed'
}

/**
 * Runs `attempt` until it succeeds: at most `TIMINGS.revokeAttempts` times, pausing `revokeRetryMs`
 * (doubling) between tries, and starting none once `revokeBudgetMs` has passed. Rejects with the last
 * failure, as a `RevocationUnconfirmed`.
 */
export async function withRetries(attempt: () => Promise<void>): Promise<void> {
  const started = Date.now()
  for (let tries = 1; ; tries++) {
    try {
      return await attempt()
    } catch (error) {
      const pause = TIMINGS.revokeRetryMs * 2 ** (tries - 1)
      if (tries >= TIMINGS.revokeAttempts || Date.now() - started + pause >= TIMINGS.revokeBudgetMs)
        throw error instanceof RevocationUnconfirmed
          ? error
          : new RevocationUnconfirmed(`Redis did not take it after ${tries} attempts`, { cause: error })
      await sleep(pause)
    }
  }
}

/**
 * Whether an answer read from Redis may be served without asking the control plane: it was asked after
 * the latest revocation marker that concerns it (by more than the clocks may disagree), and after this
 * instance's connection to Redis last came back (`epoch`: what Redis held before may be what a failover
 * or a lost deletion left). An answer with no `askedAt` (an older writer) is trusted only when neither applies.
 */
export function trusted(answer: Answer, markers: ReadonlyArray<number | undefined>, epoch: number): boolean {
  const askedAt = typeof answer.askedAt === 'number' ? answer.askedAt : 0
  for (const revokedAt of markers) if (revokedAt !== undefined && askedAt <= revokedAt + TIMINGS.clockSkewMs) return false
  return epoch === 0 || askedAt > epoch
}

/** An answer as stored in Redis, or `undefined` (none, malformed, or past its stale deadline). */
export function parsed(text: unknown): Answer | undefined {
  if (typeof text !== 'string') return undefined
  try {
    const answer: unknown = JSON.parse(text)
    return isAnswer(answer) && Date.now() < answer.staleUntil ? answer : undefined
  } catch {
    return undefined
  }
}

/** A marker's time, or `undefined` for none. */
export const markerTime = (value: unknown) =>
  typeof value === 'string' && Number.isFinite(Number(value)) ? Number(value) : undefined
