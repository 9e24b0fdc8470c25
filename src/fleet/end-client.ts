import { TIMINGS } from '../options/defaults.js'
import { sleep } from '../platform/timers.js'

/** A client's ways to end: gracefully (v5 `close`, v4 `quit`), or at once (v5 `destroy`, v4 `disconnect`). */
interface Closable {
  close?(): Promise<unknown>
  quit?(): Promise<unknown>
  destroy?(): unknown
  disconnect?(): unknown
}

/**
 * Ends a client: gracefully, which waits for the commands under way, and at once if that takes longer than
 * `TIMINGS.redisCloseMs` (a stalled connection never answers them).
 */
export async function end(client: Closable | undefined): Promise<void> {
  if (client === undefined) return
  const graceful = (client.close ?? client.quit)?.call(client).then(
    () => true,
    () => true,
  )
  const late = sleep(TIMINGS.redisCloseMs, { value: false, unref: true })
  if ((await Promise.race([graceful ?? Promise.resolve(false), late])) === true) return
  try {
    await (client.destroy ?? client.disconnect)?.call(client)
  } catch {
    // already ended
  }
}
