import { KEY_DETAILS_PATH } from '../../src/lookup/control-plane.js'
import { type ControlPlaneStub, startControlPlaneStub } from '../../src/testing/control-plane-stub.js'
import type { KeyLookup, KeyRecord } from '../../src/types.js'
import { countingLookup, type Deferred, deferred } from './core-helpers.js'

/**
 * A key service a verifier can be wired to — a fake `lookup` or the control-plane stub over loopback —
 * seen through the few knobs the shared verifier scenarios need, so one test body runs against both.
 */
export interface LookupBackend {
  /** What to spread into `createVerifier()` to use this back-end. */
  options(): { lookup: KeyLookup } | { controlPlaneUrl: string }
  /** Gives `apiKey` this record, or makes it unknown (`null`). */
  seed(apiKey: string, record: KeyRecord | null): void
  /** Key look-ups received since the last `reset()`. */
  lookups(): number
  /** The most key look-ups that were under way at once since the last `reset()`. */
  peakInFlight(): number
  /**
   * Keeps the look-ups that start from now on open; the returned function lets later ones through.
   * The fake holds them until then; the stub answers each after 100 ms, long enough for a test to act
   * while one is in flight (so release only ends the hold for later calls).
   */
  hold(): () => void
  /** Makes every look-up fail (the fake rejects; the stub answers 503) until `heal()`. */
  fail(): void
  heal(): void
  /** Forgets every key, every count, any hold and any failure. */
  reset(): void
  close(): Promise<void>
}

/** How long the stub delays an answer while `hold()` is in force. */
const STUB_HOLD_MS = 100

async function startFakeBackend(): Promise<LookupBackend> {
  const records = new Map<string, KeyRecord>()
  let gate: Deferred<void> | null = null
  let failing = false
  let inFlight = 0
  let peak = 0
  const fake = countingLookup(async (apiKey) => {
    const fails = failing
    peak = Math.max(peak, ++inFlight)
    try {
      if (gate !== null) await gate.promise
      if (fails) throw new Error('down')
      return records.get(apiKey) ?? null
    } finally {
      inFlight--
    }
  })
  return {
    options: () => ({ lookup: fake.lookup }),
    seed(apiKey, record) {
      if (record === null) records.delete(apiKey)
      else records.set(apiKey, record)
    },
    lookups: () => fake.count,
    peakInFlight: () => peak,
    hold() {
      const held = deferred<void>()
      gate = held
      return () => {
        if (gate === held) gate = null
        held.resolve()
      }
    },
    fail() {
      failing = true
    },
    heal() {
      failing = false
    },
    reset() {
      records.clear()
      gate?.resolve()
      gate = null
      failing = false
      fake.keys.length = 0
      fake.signals.length = 0
      peak = inFlight
    },
    close: async () => {},
  }
}

async function startStubBackend(): Promise<LookupBackend> {
  const stub: ControlPlaneStub = await startControlPlaneStub()
  return {
    options: () => ({ controlPlaneUrl: stub.url }),
    seed(apiKey, record) {
      if (record === null) stub.keys.delete(apiKey)
      else stub.keys.set(apiKey, record)
    },
    lookups: () => stub.calls(KEY_DETAILS_PATH),
    peakInFlight: () => stub.peakInFlight,
    hold() {
      stub.delayMs = STUB_HOLD_MS
      return () => {
        stub.delayMs = 0
      }
    },
    fail: () => stub.fail('unavailable'),
    heal: () => stub.heal(),
    reset() {
      stub.heal()
      stub.delayMs = 0
      stub.keys.clear()
      stub.resetCounts()
    },
    close: () => stub.close(),
  }
}

/** The two back-ends, by the name a `describe.each` title shows. */
export const LOOKUP_BACKENDS = [
  { name: 'a fake lookup', start: startFakeBackend },
  { name: 'the control-plane stub', start: startStubBackend },
] as const
