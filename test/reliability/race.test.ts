import { afterEach, describe, expect, test, vi } from 'vitest'
import { controlPlaneLookup } from '../../src/lookup/control-plane.js'
import type { KeyLookup, KeyRecord } from '../../src/types.js'
import { createVerifier, type Verifier } from '../../src/verifier/create-verifier.js'
import { type ControlPlaneStub, KEY_DETAILS_PATH, keyRecord } from '../../src/testing/index.js'
import { type Deferred, deferred, expectAuthError, until, withKey } from '../support/core-helpers.js'
import { expectRejection, sendKey, useGuardedApp, useStub } from '../support/servers.js'
import { ADAPTERS } from '../support/adapters.js'

const KEY = 'pk-race-revoked-0123456789'
const OTHER = 'pk-race-bystander-0123456789'

type Forget = 'invalidate' | 'invalidateKeyId' | 'clear'
async function forget(verifier: Verifier, how: Forget, keyId: string): Promise<void> {
  if (how === 'invalidate') await verifier.invalidate(KEY)
  else if (how === 'invalidateKeyId') await verifier.invalidateKeyId(keyId)
  else verifier.clear()
}

/**
 * The real control-plane look-up against the stub, whose first answer about KEY is held back until
 * `release()`: the stub has answered (with the record it held then) but the answer has not reached the
 * cache yet.
 */
function heldStubLookup(stub: ControlPlaneStub) {
  const real = controlPlaneLookup(stub.url, undefined)
  const gate = deferred<void>()
  const answers: (KeyRecord | null)[] = []
  const lookup: KeyLookup = async (apiKey, init) => {
    const answer = await real(apiKey, init)
    if (apiKey !== KEY) return answer
    answers.push(answer)
    if (answers.length === 1) await gate.promise
    return answer
  }
  return { lookup, answers, release: () => gate.resolve() }
}

afterEach(() => {
  vi.useRealTimers()
})

describe.each(ADAPTERS)('%s: a revoked key does not come back through a look-up that was in flight', (framework) => {
  test.each<[Forget, 'after' | 'while']>([
    ['invalidate', 'after'],
    ['invalidate', 'while'],
    ['invalidateKeyId', 'after'],
    ['invalidateKeyId', 'while'],
    ['clear', 'after'],
    ['clear', 'while'],
  ])('%s() during the look-up; next request %s the old answer lands: 401', async (how, when) => {
    const stub = await useStub({ keys: { [KEY]: keyRecord({ id: 'key_revoked' }), [OTHER]: keyRecord({ id: 'key_bystander' }) } })
    const held = heldStubLookup(stub)
    const verifier = createVerifier({ lookup: held.lookup, timeoutMs: 5_000 })
    const app = await useGuardedApp(framework, verifier)
    const forgetsOneKey = how !== 'clear'
    if (forgetsOneKey) expect((await sendKey(app, OTHER)).status).toBe(200)
    const lookups = () => stub.calls(KEY_DETAILS_PATH)
    const before = lookups()

    // Request A: the stub answers with the record; the answer is held on its way to the cache.
    const first = sendKey(app, KEY)
    await until(() => held.answers.length === 1)
    expect(held.answers[0]).toMatchObject({ id: 'key_revoked' })

    // The key is revoked: the verifier is told, then the control plane forgets it.
    await forget(verifier, how, 'key_revoked')
    stub.keys.delete(KEY)

    let next: ReturnType<typeof sendKey> | undefined
    if (when === 'while') {
      // Request B starts its own look-up while A's is still held, and learns the key is gone.
      next = sendKey(app, KEY)
      expectRejection(await next, 401, 'invalid_api_key', [KEY])
    }
    held.release()
    // A asked before the revocation and gets the answer it waited for.
    expect((await first).status).toBe(200)

    if (when === 'after') expectRejection(await sendKey(app, KEY), 401, 'invalid_api_key', [KEY])
    expect(lookups() - before, 'the next request asked the key service again').toBe(2)
    // And from now on the "unknown" answer is what is cached: no look-up, still 401.
    for (let i = 0; i < 3; i++) expectRejection(await sendKey(app, KEY), 401, 'invalid_api_key', [KEY])
    expect(lookups() - before).toBe(2)
    expect(app.seen.filter((auth) => auth.keyId === 'key_revoked')).toHaveLength(1)

    if (forgetsOneKey) {
      // invalidate() and invalidateKeyId() forgot that key only: the bystander is still served from the cache.
      expect((await sendKey(app, OTHER)).status).toBe(200)
      expect(lookups() - before).toBe(2)
    }
  })
})

describe('on the verifier directly, with a deferred look-up', () => {
  /** A look-up whose calls are each held until the test settles them with the record of that moment's choosing. */
  function deferredLookup() {
    const flights: { key: string; answer: Deferred<KeyRecord | null> }[] = []
    const lookup: KeyLookup = (key) => {
      const answer = deferred<KeyRecord | null>()
      flights.push({ key, answer })
      return answer.promise
    }
    return { flights, lookup }
  }

  test.each<Forget>(['invalidate', 'invalidateKeyId', 'clear'])(
    '200 rounds, %s() mid-flight: the old record never revives the key',
    async (how) => {
      const fake = deferredLookup()
      const verifier = createVerifier({ lookup: fake.lookup, timeoutMs: 5_000 })
      for (let round = 0; round < 200; round++) {
        const old = keyRecord({ id: `key_round_${round}` })
        const first = verifier.verify(withKey(KEY))
        await until(() => fake.flights.length === 2 * round + 1)
        // Let the revocation land at a different point of the flight each round.
        for (let ticks = round % 4; ticks > 0; ticks--) await Promise.resolve()
        await forget(verifier, how, old.id)
        fake.flights.at(-1)!.answer.resolve(old)
        await expect(first).resolves.toMatchObject({ keyId: old.id })

        const second = verifier.verify(withKey(KEY))
        await until(() => fake.flights.length === 2 * round + 2)
        fake.flights.at(-1)!.answer.resolve(null)
        await expectAuthError(() => second, 'invalid_api_key', 401)
        // Each round leaves the key cached as unknown; forget that too for the next round.
        await verifier.invalidate(KEY)
      }
      expect(fake.flights).toHaveLength(400)
    },
  )

  test('a background refresh in flight at invalidate() does not write back either', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const T0 = Date.parse('2030-01-01T00:00:00.000Z')
    vi.setSystemTime(T0)
    const fake = deferredLookup()
    const verifier = createVerifier({ lookup: fake.lookup, cache: { ttlMs: 1_000, staleMs: 60_000 } })
    const record = keyRecord({ id: 'key_stale' })
    const first = verifier.verify(withKey(KEY))
    await until(() => fake.flights.length === 1)
    fake.flights[0]!.answer.resolve(record)
    await first

    vi.setSystemTime(T0 + 1_000)
    // Served stale at once, while one refresh is under way.
    await expect(verifier.verify(withKey(KEY))).resolves.toMatchObject({ keyId: 'key_stale' })
    expect(fake.flights).toHaveLength(2)
    await verifier.invalidate(KEY)
    fake.flights[1]!.answer.resolve(record)
    await until(() => verifier.stats().pending === 0)

    const next = verifier.verify(withKey(KEY))
    await until(() => fake.flights.length === 3)
    fake.flights[2]!.answer.resolve(null)
    await expectAuthError(() => next, 'invalid_api_key', 401)
  })

  test('an old look-up that lands after a newer one has cached "unknown" does not overwrite it', async () => {
    const fake = deferredLookup()
    const verifier = createVerifier({ lookup: fake.lookup })
    const old = verifier.verify(withKey(KEY))
    await until(() => fake.flights.length === 1)
    await verifier.invalidate(KEY)
    const fresh = verifier.verify(withKey(KEY))
    await until(() => fake.flights.length === 2)
    fake.flights[1]!.answer.resolve(null)
    await expectAuthError(() => fresh, 'invalid_api_key', 401)
    fake.flights[0]!.answer.resolve(keyRecord({ id: 'key_old' }))
    await expect(old).resolves.toMatchObject({ keyId: 'key_old' })
    for (let i = 0; i < 5; i++) await expectAuthError(() => verifier.verify(withKey(KEY)), 'invalid_api_key', 401)
    expect(fake.flights).toHaveLength(2)
  })
})
