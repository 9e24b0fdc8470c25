import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import type { Entry } from '../../src/cache/refreshing-cache.js'
import { type Deferred, deferred, ReadThroughCache } from '../support/core-helpers.js'

const T0 = Date.parse('2030-01-01T00:00:00.000Z')
const TTL = 1_000
const STALE = 5_000

/** A loader whose every call is held open until the test settles it. */
function heldLoader() {
  const calls: { key: string; arg: string; flight: Deferred<Entry<string>> }[] = []
  const load = (key: string, arg: string) => {
    const flight = deferred<Entry<string>>()
    calls.push({ key, arg, flight })
    return flight.promise
  }
  const entry = (value: string): Entry<string> => ({ value, freshUntil: Date.now() + TTL, staleUntil: Date.now() + TTL + STALE })
  /** Settles call `index` with `value`, fresh for TTL and stale for STALE after. */
  const answer = (index: number, value: string) => calls[index]!.flight.resolve(entry(value))
  const fail = (index: number, error: unknown = new Error('key service down')) => calls[index]!.flight.reject(error)
  return { calls, load, answer, fail }
}

/** A loader that answers at once with `name:call-number`. */
function countingLoader() {
  const keys: string[] = []
  const load = async (key: string): Promise<Entry<string>> => {
    keys.push(key)
    return { value: `${key}:${keys.length}`, freshUntil: Date.now() + TTL, staleUntil: Date.now() + TTL + STALE }
  }
  return { keys, load }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] })
  vi.setSystemTime(T0)
})

afterEach(() => {
  vi.useRealTimers()
})

describe('RefreshingCache', () => {
  test('a miss waits for the loader, passing it the key and the argument', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const pending = cache.get('k', 'raw-arg')
    expect(pending).toBeInstanceOf(Promise)
    expect(loader.calls.map(({ key, arg }) => [key, arg])).toEqual([['k', 'raw-arg']])
    loader.answer(0, 'v1')
    await expect(pending).resolves.toBe('v1')
  })

  test('a fresh entry is returned synchronously with no look-up', async () => {
    const loader = countingLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    await cache.get('k', '')
    for (let i = 0; i < 5; i++) expect(cache.get('k', '')).toBe('k:1')
    vi.setSystemTime(T0 + TTL - 1)
    expect(cache.get('k', '')).toBe('k:1')
    expect(loader.keys).toEqual(['k'])
    expect(cache.stats()).toMatchObject({ hits: 6, misses: 1, stale: 0, lookups: 1, failures: 0, entries: 1, pending: 0 })
  })

  test('concurrent misses for one key share one look-up', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const waiting = Array.from({ length: 50 }, () => cache.get('k', ''))
    expect(loader.calls).toHaveLength(1)
    expect(cache.stats()).toMatchObject({ misses: 50, lookups: 1, pending: 1 })
    loader.answer(0, 'v1')
    expect(await Promise.all(waiting)).toEqual(Array(50).fill('v1'))
    expect(cache.stats()).toMatchObject({ lookups: 1, pending: 0, entries: 1 })
  })

  test('concurrent misses for different keys each get their own look-up', async () => {
    const loader = countingLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    await Promise.all([cache.get('a', ''), cache.get('b', ''), cache.get('a', ''), cache.get('b', '')])
    expect(loader.keys.sort()).toEqual(['a', 'b'])
  })

  test('concurrent misses all see the failure of their shared look-up, and nothing is stored', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const waiting = [cache.get('k', ''), cache.get('k', ''), cache.get('k', '')]
    const boom = new Error('down')
    loader.fail(0, boom)
    for (const pending of waiting) await expect(pending).rejects.toBe(boom)
    expect(cache.stats()).toMatchObject({ lookups: 1, failures: 1, entries: 0, pending: 0 })
    // The next request asks again.
    const next = cache.get('k', '')
    expect(loader.calls).toHaveLength(2)
    loader.answer(1, 'v2')
    await expect(next).resolves.toBe('v2')
  })

  test('a stale entry is served at once while exactly one background refresh runs', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const first = cache.get('k', '')
    loader.answer(0, 'v1')
    await first

    vi.setSystemTime(T0 + TTL)
    for (let i = 0; i < 10; i++) expect(cache.get('k', '')).toBe('v1')
    expect(loader.calls).toHaveLength(2)
    expect(cache.stats()).toMatchObject({ stale: 10, lookups: 2, pending: 1, hits: 0, misses: 1 })

    loader.answer(1, 'v2')
    await loader.calls[1]!.flight.promise
    await Promise.resolve()
    expect(cache.get('k', '')).toBe('v2')
    expect(cache.stats()).toMatchObject({ hits: 1, lookups: 2, pending: 0 })
  })

  test('a failed refresh keeps serving the stale entry, and the next stale request retries once', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const first = cache.get('k', '')
    loader.answer(0, 'v1')
    await first

    vi.setSystemTime(T0 + TTL + 10)
    expect(cache.get('k', '')).toBe('v1')
    expect(cache.get('k', '')).toBe('v1')
    loader.fail(1)
    await loader.calls[1]!.flight.promise.catch(() => {})
    await Promise.resolve()
    expect(cache.stats()).toMatchObject({ failures: 1, pending: 0, entries: 1 })

    vi.setSystemTime(T0 + TTL + STALE - 1)
    expect(cache.get('k', '')).toBe('v1')
    expect(cache.get('k', '')).toBe('v1')
    expect(loader.calls).toHaveLength(3)
    expect(cache.stats()).toMatchObject({ stale: 4, lookups: 3, pending: 1 })
  })

  test('a failed background refresh is not an unhandled rejection', async () => {
    const unhandled = vi.fn()
    process.on('unhandledRejection', unhandled)
    try {
      const loader = heldLoader()
      const cache = new ReadThroughCache<string, string>(10, loader.load)
      const first = cache.get('k', '')
      loader.answer(0, 'v1')
      await first
      vi.setSystemTime(T0 + TTL)
      cache.get('k', '')
      loader.fail(1)
      await new Promise((resolve) => setTimeout(resolve, 10))
      expect(unhandled).not.toHaveBeenCalled()
    } finally {
      process.off('unhandledRejection', unhandled)
    }
  })

  test('past staleUntil the entry is a miss: the request waits, and a failure reaches it', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const first = cache.get('k', '')
    loader.answer(0, 'v1')
    await first

    vi.setSystemTime(T0 + TTL + STALE)
    const missed = cache.get('k', '')
    expect(missed).toBeInstanceOf(Promise)
    expect(cache.stats()).toMatchObject({ misses: 2, stale: 0, lookups: 2 })
    const boom = new Error('down')
    loader.fail(1, boom)
    await expect(missed).rejects.toBe(boom)

    const again = cache.get('k', '')
    expect(again).toBeInstanceOf(Promise)
    loader.answer(2, 'v3')
    await expect(again).resolves.toBe('v3')
  })

  test('an entry with freshUntil == staleUntil (a negative answer) is never served stale', async () => {
    const keys: string[] = []
    const cache = new ReadThroughCache<string, string>(10, async (key) => {
      keys.push(key)
      return { value: 'unknown', freshUntil: Date.now() + 100, staleUntil: Date.now() + 100 }
    })
    await cache.get('k', '')
    vi.setSystemTime(T0 + 99)
    expect(cache.get('k', '')).toBe('unknown')
    vi.setSystemTime(T0 + 100)
    expect(cache.get('k', '')).toBeInstanceOf(Promise)
    expect(cache.stats()).toMatchObject({ stale: 0, misses: 2, lookups: 2 })
  })

  test('invalidate() during an in-flight load: the load does not write back, the next request asks again', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const before = cache.get('k', '')
    cache.invalidate('k')
    expect(cache.stats().pending).toBe(0)
    loader.answer(0, 'old')
    await expect(before).resolves.toBe('old')
    expect(cache.stats().entries).toBe(0)

    const after = cache.get('k', '')
    expect(after).toBeInstanceOf(Promise)
    expect(loader.calls).toHaveLength(2)
    loader.answer(1, 'new')
    await expect(after).resolves.toBe('new')
    expect(cache.get('k', '')).toBe('new')
  })

  test('an old load that settles after a newer one has started does not overwrite it', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const old = cache.get('k', '')
    cache.invalidate('k')
    const fresh = cache.get('k', '')
    expect(loader.calls).toHaveLength(2)
    loader.answer(1, 'new')
    await fresh
    loader.answer(0, 'old')
    await old
    expect(cache.get('k', '')).toBe('new')
  })

  test('an old load that settles before the newer one is neither stored nor shared with the newer request', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const old = cache.get('k', '')
    cache.invalidate('k')
    const fresh = cache.get('k', '')
    loader.answer(0, 'old')
    await old
    expect(cache.stats()).toMatchObject({ entries: 0, pending: 1 })
    loader.answer(1, 'new')
    await expect(fresh).resolves.toBe('new')
    expect(cache.get('k', '')).toBe('new')
  })

  test('invalidate() during a background refresh drops the stale entry and the refresh does not write back', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const first = cache.get('k', '')
    loader.answer(0, 'v1')
    await first
    vi.setSystemTime(T0 + TTL)
    expect(cache.get('k', '')).toBe('v1')
    cache.invalidate('k')
    loader.answer(1, 'v2-from-before-invalidate')
    await loader.calls[1]!.flight.promise
    await Promise.resolve()
    expect(cache.stats().entries).toBe(0)
    expect(cache.get('k', '')).toBeInstanceOf(Promise)
    expect(loader.calls).toHaveLength(3)
  })

  test('invalidate() only drops its own key', async () => {
    const loader = countingLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    await cache.get('a', '')
    await cache.get('b', '')
    cache.invalidate('a')
    cache.invalidate('never-seen')
    expect(cache.get('b', '')).toBe('b:2')
    expect(cache.get('a', '')).toBeInstanceOf(Promise)
    expect(loader.keys).toEqual(['a', 'b', 'a'])
  })

  test('clear() during in-flight loads: none writes back', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const countingCache = new ReadThroughCache<string, string>(10, countingLoader().load)
    await countingCache.get('x', '')
    const a = cache.get('a', '')
    const b = cache.get('b', '')
    cache.clear()
    expect(cache.stats()).toMatchObject({ entries: 0, pending: 0 })
    loader.answer(0, 'a-old')
    loader.answer(1, 'b-old')
    await Promise.all([a, b])
    expect(cache.stats().entries).toBe(0)
    expect(cache.get('a', '')).toBeInstanceOf(Promise)
    expect(cache.get('b', '')).toBeInstanceOf(Promise)
    expect(loader.calls).toHaveLength(4)
    // clear() on one cache leaves another alone.
    expect(countingCache.get('x', '')).toBe('x:1')
  })

  test('clear() drops stored entries', async () => {
    const loader = countingLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    await cache.get('a', '')
    await cache.get('b', '')
    cache.clear()
    expect(cache.stats().entries).toBe(0)
    await cache.get('a', '')
    expect(loader.keys).toEqual(['a', 'b', 'a'])
  })

  test('a failing load unregistered by invalidate() still counts as a failure and rejects its waiters', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    const waiting = cache.get('k', '')
    cache.invalidate('k')
    loader.fail(0)
    await expect(waiting).rejects.toThrow('key service down')
    expect(cache.stats()).toMatchObject({ failures: 1, pending: 0, entries: 0 })
  })

  test('stats() counts hits, stale serves, misses, look-ups, failures, entries and pending', async () => {
    const loader = heldLoader()
    const cache = new ReadThroughCache<string, string>(10, loader.load)
    expect(cache.stats()).toEqual({ hits: 0, stale: 0, misses: 0, lookups: 0, failures: 0, entries: 0, pending: 0 })

    const a = cache.get('a', '') // miss, look-up 1
    const b = cache.get('b', '') // miss, look-up 2
    const b2 = cache.get('b', '') // miss, shares look-up 2
    expect(cache.stats()).toEqual({ hits: 0, stale: 0, misses: 3, lookups: 2, failures: 0, entries: 0, pending: 2 })
    loader.answer(0, 'a1')
    loader.fail(1)
    await a
    await Promise.allSettled([b, b2])
    expect(cache.stats()).toEqual({ hits: 0, stale: 0, misses: 3, lookups: 2, failures: 1, entries: 1, pending: 0 })

    cache.get('a', '') // hit
    vi.setSystemTime(T0 + TTL)
    cache.get('a', '') // stale, look-up 3
    cache.get('a', '') // stale, no new look-up
    expect(cache.stats()).toEqual({ hits: 1, stale: 2, misses: 3, lookups: 3, failures: 1, entries: 1, pending: 1 })
  })

  test('holds at most `max` entries, dropping the least recently used', async () => {
    const loader = countingLoader()
    // max 3: two places for answers about known keys, one for "unknown key" answers.
    const cache = new ReadThroughCache<string, string>(3, loader.load)
    await cache.get('a', '')
    await cache.get('b', '')
    expect(cache.get('a', '')).toBe('a:1') // a is now the most recently used
    await cache.get('c', '') // evicts b
    expect(cache.stats().entries).toBe(2)
    expect(cache.get('a', '')).toBe('a:1')
    expect(cache.get('c', '')).toBe('c:3')
    expect(cache.get('b', '')).toBeInstanceOf(Promise)
    expect(loader.keys).toEqual(['a', 'b', 'c', 'b'])
  })

  test('a flood of unknown keys stays within max and never evicts a known key', async () => {
    const known = countingLoader()
    let negatives = 0
    const cache = new ReadThroughCache<string, string>(20, async (key) => {
      if (key === 'good') return known.load(key)
      negatives++
      return { value: 'unknown', freshUntil: Date.now() + TTL, staleUntil: Date.now() + TTL, negative: true }
    })
    await cache.get('good', '')
    for (let i = 0; i < 500; i++) await cache.get(`random-${i}`, '')
    expect(negatives).toBe(500)
    // Two of the twenty places are for unknown keys: the flood only evicts its own.
    expect(cache.stats().entries).toBe(3)
    expect(cache.get('good', '')).toBe('good:1')
    expect(cache.get('random-499', '')).toBe('unknown')
    expect(cache.get('random-0', '')).toBeInstanceOf(Promise)
  })

  test('a key whose answer turns negative is not served from its old record', async () => {
    let revoked = false
    const cache = new ReadThroughCache<string, string>(10, async () =>
      revoked
        ? { value: 'unknown', freshUntil: Date.now() + TTL, staleUntil: Date.now() + TTL, negative: true }
        : { value: 'record', freshUntil: Date.now() + TTL, staleUntil: Date.now() + TTL + STALE },
    )
    expect(await cache.get('k', '')).toBe('record')
    revoked = true
    vi.setSystemTime(T0 + TTL + 1) // stale: served once more while the refresh runs
    expect(cache.get('k', '')).toBe('record')
    await vi.waitFor(() => expect(cache.stats().pending).toBe(0))
    expect(cache.get('k', '')).toBe('unknown')
    expect(cache.stats().entries).toBe(1)
  })
})

describe('attack: invalidateAlias() (another instance revokes by the fingerprint, the entry is keyed by the tag)', () => {
  /** A loader held open per call; the cache is told each key's alias, `${key}#` (another name for each key). */
  function aliasedCache() {
    const calls: { key: string; flight: Deferred<Entry<string>> }[] = []
    const aliased: string[] = []
    const load = (key: string) => {
      const flight = deferred<Entry<string>>()
      calls.push({ key, flight })
      return flight.promise
    }
    const aliasOf = (key: string) => {
      aliased.push(key)
      return `${key}#`
    }
    const answer = (index: number, value: string, negative = false) => {
      const staleUntil = Date.now() + TTL + (negative ? 0 : STALE)
      calls[index]!.flight.resolve({ value, freshUntil: Date.now() + TTL, staleUntil, ...(negative && { negative }) })
    }
    const cache = new ReadThroughCache<string, string>(20, load, aliasOf)
    return { cache, calls, aliased, answer }
  }

  test('drops the entry that goes by the alias, negative ones too, and leaves every other alone', async () => {
    const { cache, answer } = aliasedCache()
    const loads = ['a', 'b', 'gone'].map((key) => cache.get(key, ''))
    answer(0, 'A')
    answer(1, 'B')
    answer(2, 'unknown', true)
    await Promise.all(loads)
    expect(cache.stats().entries).toBe(3)
    cache.invalidateAlias('a#')
    cache.invalidateAlias('gone#')
    cache.invalidateAlias('nobody#')
    expect(cache.stats().entries).toBe(1)
    expect(cache.get('b', '')).toBe('B')
    expect(cache.get('a', '')).toBeInstanceOf(Promise)
    expect(cache.get('gone', '')).toBeInstanceOf(Promise)
  })

  test('a name no key goes by is taken for the key itself (a key that is its fingerprint: a JWT, the edge)', async () => {
    const { cache, answer } = aliasedCache()
    const loads = ['a', 'b'].map((key) => cache.get(key, ''))
    answer(0, 'A')
    answer(1, 'B')
    await Promise.all(loads)
    cache.invalidateAlias('b')
    expect(cache.get('a', '')).toBe('A')
    expect(cache.get('b', '')).toBeInstanceOf(Promise)
  })

  test("the alias is asked once a look-up starts, never on a served request; a refresh reuses the entry's", async () => {
    const { cache, aliased, answer } = aliasedCache()
    const first = cache.get('k', '')
    answer(0, 'v1')
    await first
    for (let i = 0; i < 5; i++) expect(cache.get('k', '')).toBe('v1')
    vi.setSystemTime(T0 + TTL)
    expect(cache.get('k', '')).toBe('v1') // stale: its refresh starts, under the alias the entry has
    expect(aliased).toEqual(['k'])
  })

  test('a look-up in flight for it (a first miss, or a stale entry’s refresh) does not write back; another key’s does', async () => {
    const { cache, calls, answer } = aliasedCache()
    const first = cache.get('k', '')
    answer(0, 'v1')
    await first
    vi.setSystemTime(T0 + TTL)
    expect(cache.get('k', '')).toBe('v1') // stale: its refresh (call 1) starts
    const miss = cache.get('m', '') // a first look-up for m (call 2)
    const other = cache.get('o', '') // and for o (call 3)
    expect(calls.map((call) => call.key)).toEqual(['k', 'k', 'm', 'o'])
    cache.invalidateAlias('k#')
    cache.invalidateAlias('m#')
    expect(cache.stats()).toMatchObject({ entries: 0, pending: 1 })
    answer(1, 'v2-asked-before-the-revocation')
    answer(2, 'm-asked-before-the-revocation')
    answer(3, 'O')
    await Promise.all([miss, other, calls[1]!.flight.promise])
    await Promise.resolve()
    expect(cache.get('o', '')).toBe('O')
    expect(cache.stats().entries).toBe(1)
    expect(cache.get('k', '')).toBeInstanceOf(Promise)
    expect(cache.get('m', '')).toBeInstanceOf(Promise)
  })

  test('an entry replaced by its refresh still answers to its alias', async () => {
    const { cache, calls, answer } = aliasedCache()
    const first = cache.get('k', '')
    answer(0, 'v1')
    await first
    vi.setSystemTime(T0 + TTL)
    cache.get('k', '')
    answer(1, 'v2')
    await calls[1]!.flight.promise
    await Promise.resolve()
    expect(cache.get('k', '')).toBe('v2')
    cache.invalidateAlias('k#')
    expect(cache.get('k', '')).toBeInstanceOf(Promise)
  })
})

describe('attack: the alias index stays bounded (look-ups dropped by invalidate(), invalidateWhere())', () => {
  /** Builds a cache while recording the Maps it makes, to read its alias index (the Map whose keys end in '#'). */
  function watchedCache() {
    const made: Map<unknown, unknown>[] = []
    const Original = globalThis.Map
    globalThis.Map = class extends Original<unknown, unknown> {
      constructor(entries?: Iterable<readonly [unknown, unknown]> | null) {
        super(entries)
        made.push(this)
      }
    } as MapConstructor
    const calls: { key: string; flight: Deferred<Entry<string>> }[] = []
    const load = (key: string) => {
      const flight = deferred<Entry<string>>()
      calls.push({ key, flight })
      return flight.promise
    }
    let cache: ReadThroughCache<string, string>
    try {
      cache = new ReadThroughCache<string, string>(20, load, (key) => `${key}#`)
    } finally {
      globalThis.Map = Original
    }
    const aliases = () =>
      Math.max(0, ...made.map((map) => [...map.keys()].filter((k) => typeof k === 'string' && k.endsWith('#')).length))
    const answer = (index: number, value: string) =>
      calls[index]!.flight.resolve({ value, freshUntil: Date.now() + TTL, staleUntil: Date.now() + TTL + STALE })
    return { cache, calls, aliases, answer }
  }

  // Was a hole: a look-up dropped while under way (invalidate(), invalidateWhere()) never unregistered its alias,
  // an unbounded leak (every random key under way at each revocation by key id).
  test('a first look-up dropped by invalidate() leaves no alias behind once it settles', async () => {
    const { cache, calls, aliases, answer } = watchedCache()
    const loads: Promise<unknown>[] = []
    for (let i = 0; i < 100; i++) {
      loads.push(Promise.resolve(cache.get(`k${i}`, '')).catch(() => {}))
      cache.invalidate(`k${i}`) // a local revocation while its first look-up is under way
    }
    for (let index = 0; index < calls.length; index++) answer(index, 'v')
    await Promise.all(loads)
    await Promise.resolve()
    expect(cache.stats()).toMatchObject({ entries: 0, pending: 0 })
    expect(aliases()).toBe(0)
  })

  // Was a hole: as above.
  test('look-ups dropped by invalidateWhere() (first ones, and refreshes of entries it drops) leave no alias behind', async () => {
    const { cache, calls, aliases, answer } = watchedCache()
    const first = cache.get('r', '')
    answer(0, 'R')
    await first
    vi.setSystemTime(T0 + TTL)
    expect(cache.get('r', '')).toBe('R') // stale: its refresh (call 1) starts
    const loads: Promise<unknown>[] = []
    for (let i = 0; i < 50; i++) loads.push(Promise.resolve(cache.get(`k${i}`, '')).catch(() => {})) // random keys under way
    cache.invalidateWhere(() => true) // a revocation by key id, from here or another instance
    for (let index = 1; index < calls.length; index++) answer(index, 'late')
    await Promise.all([...loads, calls[1]!.flight.promise])
    await Promise.resolve()
    expect(cache.stats()).toMatchObject({ entries: 0, pending: 0 })
    expect(aliases()).toBe(0)
  })

  test('a dropped look-up that settles late never takes the alias from the look-up or entry that followed it', async () => {
    const { cache, calls, aliases, answer } = watchedCache()
    const dropped = Promise.resolve(cache.get('k', '')).catch(() => {})
    cache.invalidate('k') // a local revocation: call 0 is dropped
    const second = cache.get('k', '') // a new request: call 1
    calls[0]!.flight.reject(new Error('late failure'))
    await dropped
    await Promise.resolve()
    expect(aliases()).toBe(1) // call 1 is under way by it
    cache.invalidateAlias('k#') // another instance revokes: call 1 must not write back
    answer(1, 'revoked')
    await second
    await Promise.resolve()
    expect(cache.stats()).toMatchObject({ entries: 0, pending: 0 })
    const third = cache.get('k', '') // call 2, then stored
    answer(2, 'v')
    await third
    const late = cache.get('other', '') // call 3, dropped by invalidate() and answered after k is stored again
    cache.invalidate('other')
    answer(3, 'late')
    await late
    await Promise.resolve()
    cache.invalidateAlias('k#')
    expect(cache.get('k', '')).toBeInstanceOf(Promise)
  })

  test('a failed look-up, an eviction and a revocation by alias leave no alias behind', async () => {
    const { cache, calls, aliases, answer } = watchedCache()
    const loads: Promise<unknown>[] = []
    for (let i = 0; i < 60; i++) loads.push(Promise.resolve(cache.get(`k${i}`, '')).catch(() => {}))
    for (const [index, call] of calls.entries()) {
      if (index % 2 === 0) answer(index, 'v')
      else call.flight.reject(new Error('down'))
    }
    await Promise.all(loads)
    await Promise.resolve()
    expect(aliases()).toBe(cache.stats().entries) // the survivors of eviction, each by its alias
    for (let i = 0; i < 60; i++) cache.invalidateAlias(`k${i}#`)
    expect(cache.stats().entries).toBe(0)
    expect(aliases()).toBe(0)
  })
})
