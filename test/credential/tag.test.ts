import { describe, expect, test } from 'vitest'
import { fingerprint } from '../../src/credential/header.js'
import { credentialTag } from '../../src/credential/tag.js'
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
    `${KEY}b`,
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

describe('attack: crafted pairs that would share a tag if the input were read ambiguously', () => {
  /** Each string's UTF-16 units as the bytes a byte string would need to hold to be read the same way. */
  const units = (s: string) => Array.from({ length: s.length }, (_, i) => s.charCodeAt(i))
  const asBytes = (s: string) => String.fromCharCode(...units(s).flatMap((unit) => [unit & 0xff, unit >>> 8]))

  test('every string of the families below has a tag of its own', () => {
    const family = new Set<string>()
    const add = (...strings: string[]) => {
      for (const s of strings) family.add(s)
    }
    // A wide string and the byte string of its UTF-16 bytes (the reading it switches to), and cut to bytes.
    for (const wide of ['a\u0100', '\u0100', 'pk-\u0100\u0101', '\uffff', 'x'.repeat(64) + '\u20ac'.repeat(64)]) {
      add(wide, asBytes(wide), String.fromCharCode(...units(wide).map((unit) => unit & 0xff)))
    }
    // Lone surrogates, the pair they make, and what UTF-8 would turn them into (U+FFFD, EF BF BD).
    add('pk-\ud800', 'pk-\udc00', 'pk-\ud800\udc00', 'pk-\udc00\ud800', 'pk-\ufffd', 'pk-\xef\xbf\xbd', 'pk-\u{10000}')
    // Around 0x7f and 0xff: one UTF-8 byte or two, one byte or two UTF-16 units.
    for (const code of [0x7e, 0x7f, 0x80, 0xc3, 0xff, 0x100, 0x7ff, 0x800]) add(`pk-${String.fromCharCode(code)}`)
    add('pk-\xc3\xa9', 'pk-\u00e9') // é in UTF-8 bytes, and é
    // NUL: as padding would be, before and after; each length of the last word.
    for (let n = 0; n <= 16; n++) add('\0'.repeat(n), `pk${'\0'.repeat(n)}`, `${'\0'.repeat(n)}pk`)
    // The length byte: a string and one 256 longer in bytes (a wide string of 128 units is 256 bytes).
    add('a'.repeat(8), 'a'.repeat(264), '\u0100'.repeat(4), '\u0100'.repeat(128), '\u0100'.repeat(132))
    // Prefixes of one key, and lengths either side of where the tag changes kind.
    const key = 'pk-live-'.padEnd(140, '0123456789abcdef')
    for (let n = 1; n <= key.length; n++) add(key.slice(0, n))
    const tags = new Map<string, string>()
    for (const s of family) {
      const tag = credentialTag(s)
      expect(tags.get(tag), `${JSON.stringify(s)} and ${JSON.stringify(tags.get(tag))}`).toBeUndefined()
      tags.set(tag, s)
    }
    expect(tags.size).toBe(family.size)
  })

  test("an API key that is a cached JWT-length credential's fingerprint (its public Redis name) gets its own entry", async () => {
    const long = `pk-long-${'x'.repeat(200)}`
    const lookups = countingLookup((apiKey) => keyRecord({ id: `id:${apiKey.slice(0, 12)}:${apiKey.length}` }))
    const verifier = createVerifier({ lookup: lookups.lookup, logger: false })
    expect((await verifier.verify(withKey(long))).keyId).toBe('id:pk-long-xxxx:208')
    const named = fingerprint(long)
    expect(credentialTag(long)).toBe(named)
    // The fingerprint as a credential of its own: 43 characters, so tagged with SipHash, never by itself.
    expect((await verifier.verify(withKey(named))).keyId).toBe(`id:${named.slice(0, 12)}:43`)
    expect(lookups.keys).toEqual([long, named])
  })
})

describe('attack through the verifier: a wide credential whose UTF-16 bytes are a cached key', () => {
  // A header object handed to verify() (no Web Headers to refuse characters above 0xff): 'pk-live-…' packed two
  // bytes to a character, as SipHash would read it without its second key.
  const packed = String.fromCharCode(
    ...Array.from({ length: KEY.length / 2 }, (_, i) => KEY.charCodeAt(2 * i) | (KEY.charCodeAt(2 * i + 1) << 8)),
  )

  test("is never served the key's cached context, by either header; invalidating it leaves the key's entry", async () => {
    expect(KEY.length % 2).toBe(0)
    const lookups = countingLookup((apiKey) => keyRecord({ id: `id:${apiKey}` }))
    const verifier = createVerifier({ lookup: lookups.lookup, bearer: true, logger: false })
    expect((await verifier.verify(withKey(KEY))).keyId).toBe(`id:${KEY}`)
    for (const headers of [withKey(packed), { authorization: `Bearer ${packed}` }]) {
      // Not the key's context: looked up, whose characters are refused before anyone is asked.
      await expect(verifier.verify(headers)).rejects.toMatchObject({ status: 401, code: 'invalid_api_key' })
    }
    await verifier.invalidate(packed)
    expect(verifier.check(withKey(KEY))).toMatchObject({ keyId: `id:${KEY}` })
    expect(lookups.keys).toEqual([KEY])
  })
})
