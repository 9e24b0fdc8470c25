import { describe, expect, test } from 'vitest'
import { credentialTag, fingerprint } from '../../src/credential/header.js'
import { keyRecord } from '../../src/testing/records.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { countingLookup, withKey } from '../support/core-helpers.js'

// The tag is the cache's key for a credential in this process (src/credential/header.ts): SipHash-1-3-128 under
// a random key for an API key, the fingerprint for a longer credential. What a caller could try: two credentials
// that share an entry, and so one's context for the other's.

const KEY = 'pk-live-0123456789abcdefghijklmnopqrstuv'

describe('credentialTag', () => {
  test('an API key gets 8 characters (128 bits), never its own characters, the same each time', () => {
    const tag = credentialTag(KEY)
    expect(tag).toHaveLength(8)
    expect(credentialTag(KEY)).toBe(tag)
    expect(tag).not.toBe(fingerprint(KEY))
    for (let i = 0; i + 4 <= KEY.length; i++) expect(tag).not.toContain(KEY.slice(i, i + 4))
  })

  test('past 128 characters (a JWT) the tag is the fingerprint; the two kinds never share a length', () => {
    const long = `${'a'.repeat(129)}`
    expect(credentialTag(long)).toBe(fingerprint(long))
    expect(credentialTag('a'.repeat(128))).toHaveLength(8)
    expect(fingerprint('a'.repeat(128))).toHaveLength(43)
  })
})

describe('two credentials never share an entry', () => {
  /** Each key its own record, named after the key; every look-up counted. */
  function setup() {
    const lookups = countingLookup((apiKey) => keyRecord({ id: `id:${apiKey}` }))
    const verifier = createVerifier({ lookup: lookups.lookup, logger: false, cache: { max: 100_000 } })
    return { verifier, lookups }
  }

  // Neighbours: one character changed at each place, one added or removed, the case changed, the lengths on
  // either side of where the tag changes kind, and the last word of SipHash's input (0–7 characters) in each form.
  const neighbours = [
    KEY,
    ...Array.from(KEY, (_, i) => KEY.slice(0, i) + (KEY[i] === 'x' ? 'y' : 'x') + KEY.slice(i + 1)),
    KEY.slice(0, -1),
    `${KEY}a`,
    `${KEY}\x00`.slice(0, -1) + 'b',
    KEY.toUpperCase(),
    'a'.repeat(127),
    'a'.repeat(128),
    'a'.repeat(129),
    ...Array.from({ length: 16 }, (_, n) => `pk-${'z'.repeat(n)}`),
  ]

  test('keys that differ by one character, case or length each get their own look-up and context', async () => {
    const { verifier, lookups } = setup()
    const distinct = [...new Set(neighbours)]
    for (const key of distinct) expect((await verifier.verify(withKey(key))).keyId).toBe(`id:${key}`)
    // Again, from the cache: each still its own context, and no new look-up.
    for (const key of distinct) expect((await verifier.verify(withKey(key))).keyId).toBe(`id:${key}`)
    expect(lookups.count).toBe(distinct.length)
    expect(new Set(lookups.keys).size).toBe(distinct.length)
  })

  test('20,000 random keys: each cached under its own tag, each answered with its own context', async () => {
    const { verifier, lookups } = setup()
    const keys = Array.from({ length: 20_000 }, () => `pk-${crypto.randomUUID().replaceAll('-', '')}`)
    for (const key of keys) await verifier.verify(withKey(key))
    for (const key of keys) expect(verifier.check(withKey(key))).toMatchObject({ keyId: `id:${key}` })
    expect(lookups.count).toBe(keys.length)
    expect(verifier.stats()).toMatchObject({ hits: keys.length, entries: keys.length })
  })

  test('invalidate() forgets the credential by its tag: the next request looks it up again', async () => {
    const { verifier, lookups } = setup()
    await verifier.verify(withKey(KEY))
    await verifier.invalidate(KEY)
    await verifier.verify(withKey(KEY))
    expect(lookups.count).toBe(2)
  })
})
