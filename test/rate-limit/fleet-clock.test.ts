import { randomUUID } from 'node:crypto'
import { createClient } from 'redis'
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { RedisConnection } from '../../src/fleet/redis.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { type FleetClock, fleetClock } from '../../src/rate-limit/fleet-clock.js'
import type { CommandLink } from '../../src/rate-limit/command-link.js'
import { until } from '../support/core-helpers.js'
import { useRedisAtHand } from '../support/redis-server.js'

// fleetClock() (issue 27, point 5) against a real redis-server: what it makes of TIME's answer, when it asks, and
// when it stops. This process's Date is faked (and stands still unless a test moves it), and so is setInterval:
// the clock looks at Redis only when a test advances the timers, one look a second. Redis's own clock is the
// machine's; the test reads it around each reading, so the offset is checked between two readings of its own.

let connection: RedisConnection
/** The redis-server, and the test's own client (to read Redis's time, and to read and plant counters). */
const at = useRedisAtHand()

const clocks: FleetClock[] = []

/** Redis's time now, epoch ms. */
const redisTime = async () => {
  const [seconds, micros] = await at.client.time()
  return Number(seconds) * 1000 + Number(micros) / 1000
}

/**
 * The connection as the clock sees it, counting its TIME commands (`times`), and settling `read` when each is
 * answered. `replace`: another real command sent in TIME's place (its real reply then reaches the clock);
 * `answered`: run as each TIME's reply comes back, before the clock sees it.
 */
function watched(options: { replace?: string[]; answered?: () => void } = {}) {
  let answered = () => {}
  const link = {
    times: 0,
    read: Promise.resolve(),
    get connected() {
      return connection.connected
    },
    get epoch() {
      return connection.epoch
    },
    command(args: string[]): Promise<unknown> {
      if (args[0] !== 'TIME') return connection.command(args)
      link.times++
      link.read = new Promise<void>((done) => {
        answered = done
      })
      return connection.command(options.replace ?? args).finally(() => {
        options.answered?.()
        // After the clock's own handler (a microtask later): `await link.read` sees the reading done.
        setImmediate(answered)
      })
    },
  } satisfies CommandLink & Record<string, unknown>
  return link
}

function clockOn(link: CommandLink): FleetClock {
  const clock = fleetClock(link)
  clocks.push(clock)
  return clock
}

/** One look of the clock (a second), then its reading, if it made one, answered. */
async function look(link: ReturnType<typeof watched>): Promise<void> {
  const times = link.times
  vi.advanceTimersByTime(1_000)
  if (link.times > times) await link.read
}

describe('FleetClock', () => {
  beforeEach(async () => {
    connection = new RedisConnection({ url: at.redis.url }, 1_000, { warn() {}, info() {} })
    await connection.ready
    await until(() => connection.connected, 5_000)
    // An hour behind the machine (and Redis), and standing still.
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
    vi.setSystemTime(Date.now() - 3_600_000)
  })
  afterEach(async () => {
    for (const clock of clocks.splice(0)) clock.close()
    vi.useRealTimers()
    await connection.close()
  })

  test("0 until its first look; then Redis's time less this clock's, at the midpoint of the round trip", async () => {
    // The first look (and TIME sent) a second from now; the reply back 10 s after it on this clock: the reading is
    // taken as made 5 s after sending.
    const sent = Date.now() + 1_000
    const link = watched({ answered: () => vi.setSystemTime(sent + 10_000) })
    const clock = clockOn(link)
    expect(clock.offset).toBe(0)
    expect(link.times).toBe(0)

    const before = await redisTime()
    await look(link)
    const after = await redisTime()
    expect(link.times).toBe(1)
    expect(Number.isInteger(clock.offset)).toBe(true)
    // The machine is an hour ahead of the faked clock: the offset is an hour, less the 5 s to the midpoint.
    expect(clock.offset).toBeGreaterThanOrEqual(Math.floor(before - sent - 5_000))
    expect(clock.offset).toBeLessThanOrEqual(Math.ceil(after - sent - 5_000))
    expect(clock.offset).toBeGreaterThan(3_590_000)
  })

  test('read again once a minute (60 looks), not more often', async () => {
    const link = watched()
    clockOn(link)
    await look(link)
    expect(link.times).toBe(1)
    for (let i = 0; i < 59; i++) await look(link)
    expect(link.times).toBe(1)
    await look(link)
    expect(link.times).toBe(2)
  })

  test('Redis away: no command sent, the last offset kept; back: read again at the next look', async () => {
    const link = watched()
    const clock = clockOn(link)
    await look(link)
    const offset = clock.offset
    expect(offset).toBeGreaterThan(3_590_000)

    await at.redis.stop()
    try {
      await until(() => !connection.connected, 5_000)
      for (let i = 0; i < 3; i++) await look(link)
      expect(link.times).toBe(1)
      expect(clock.offset).toBe(offset)
      // A request's command, failing meanwhile.
      await expect(connection.command(['PING'])).rejects.toThrow('redis is not connected')
    } finally {
      await at.redis.start()
    }
    await until(() => connection.connected, 10_000)
    // The first command that succeeds after one failed marks Redis back (its epoch), as a request's would.
    await expect(connection.command(['PING'])).resolves.toBe('PONG')
    await look(link)
    expect(link.times).toBe(2)
    expect(clock.offset).toBeGreaterThan(3_590_000)
    // And then not again until a minute has gone.
    await look(link)
    expect(link.times).toBe(2)
    await at.client.close()
    at.client = await createClient({ url: at.redis.url })
      .on('error', () => {})
      .connect()
  })

  test.each<[string, string[], () => Promise<unknown>]>([
    ['a status', ['SET', `clock-test:${randomUUID()}`, 'x'], async () => {}],
    ['a string', ['ECHO', '1733400000,5'], async () => {}],
    ['one number', ['LRANGE', 'clock-test:one', '0', '-1'], () => at.client.rPush('clock-test:one', '1733400000')],
    [
      'microseconds past a second',
      ['LRANGE', 'clock-test:micros', '0', '-1'],
      () => at.client.rPush('clock-test:micros', ['1733400000', '1000000']),
    ],
    [
      'a negative time',
      ['LRANGE', 'clock-test:negative', '0', '-1'],
      () => at.client.rPush('clock-test:negative', ['-1733400000', '5']),
    ],
    ['no number', ['LRANGE', 'clock-test:words', '0', '-1'], () => at.client.rPush('clock-test:words', ['soon', 'now'])],
    ['an error', ['INCR', 'clock-test:not-a-number'], () => at.client.set('clock-test:not-a-number', 'x')],
  ])("a reply that is not TIME's (%s) is ignored: the offset stays, nothing thrown", async (_name, replace, setUp) => {
    vi.useRealTimers()
    await setUp()
    vi.useFakeTimers({ toFake: ['Date', 'setInterval', 'clearInterval'] })
    const link = watched({ replace })
    const clock = clockOn(link)
    await look(link)
    expect(link.times).toBe(1)
    expect(clock.offset).toBe(0)
  })

  test('close() stops it: no command after, the offset kept', async () => {
    const link = watched()
    const clock = clockOn(link)
    await look(link)
    const offset = clock.offset
    const timers = vi.getTimerCount()
    clock.close()
    expect(vi.getTimerCount()).toBe(timers - 1)
    for (let i = 0; i < 120; i++) await look(link)
    expect(link.times).toBe(1)
    expect(clock.offset).toBe(offset)
  })
})

describe('the verifier', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  /** The intervals a verifier holds once connected (faked, so they never fire), and after `close()`. */
  async function intervals(options: Parameters<typeof createVerifier>[0]) {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const verifier = createVerifier({ controlPlaneUrl: 'http://127.0.0.1:9', logger: false, ...options })
    if (options?.redis) await until(() => verifier.stats().redis?.listening === true, 5_000)
    const open = vi.getTimerCount()
    await verifier.close()
    return { open, closed: vi.getTimerCount() }
  }

  test('without Redis: no clock, no timer', async () => {
    expect(await intervals({})).toEqual({ open: 0, closed: 0 })
  })

  test('with Redis: the clock is the one timer rate limits add, and close() stops it', async () => {
    const prefix = `clock-${randomUUID()}:`
    const without = await intervals({ redis: { url: at.redis.url, prefix }, rateLimits: false })
    const limited = await intervals({ redis: { url: at.redis.url, prefix } })
    expect(limited.open).toBe(without.open + 1)
    expect(limited.closed).toBe(0)
  })
})
