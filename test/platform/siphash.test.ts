import { describe, expect, test } from 'vitest'
import { randomSipKey, sipHash13, sipHash128 } from '../../src/platform/siphash.js'

// The reference code's test: key 00 01 … 0f, input 00 01 … (n − 1) for n = 0…63; its 128-bit outputs as bytes
// (vectors_sip128 in the reference repository's vectors.h), for these lengths: each way the last word is made
// (0–7 bytes left) and one to eight words before it.
const VECTORS: Record<number, string> = {
  0: 'a3817f04ba25a8e66df67214c7550293',
  1: 'da87c1d86b99af44347659119b22fc45',
  2: '8177228da4a45dc7fca38bdef60affe4',
  3: '9c70b60c5267a94e5f33b6b02985ed51',
  4: 'f88164c12d9c8faf7d0f6e7c7bcd5579',
  5: '1368875980776f8854527a07690e9627',
  6: '14eeca338b208613485ea0308fd7a15e',
  7: 'a1f1ebbed8dbc153c0b84aa61ff08239',
  8: '3b62a9ba6258f5610f83e264f31497b4',
  9: '264499060ad9baabc47f8b02bb6d71ed',
  15: '5493e99933b0a8117e08ec0f97cfc3d9',
  16: '6ee2a4ca67b054bbfd3315bf85230577',
  17: '473d06e8738db89854c066c47ae47740',
  40: 'df6a301e95c95dad97ae0cc8c6913bd8',
  63: '5150d1772f50834a503e069a973fbd7c',
}

// k0 = 0x0706050403020100, k1 = 0x0f0e0d0c0b0a0908, as low and high halves; the second key is not used here.
const REFERENCE_KEY = new Int32Array([0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c, 0, 0, 0, 0])
// By UTF-16 unit, not by code point (`[...tag]`): an output whose characters make a surrogate pair is one code point.
const unitsOf = (tag: string) => Array.from({ length: tag.length }, (_, i) => tag.charCodeAt(i))
const bytesOf = (tag: string) =>
  unitsOf(tag)
    .flatMap((unit) => [unit & 0xff, unit >>> 8])
    .map((b) => b.toString(16).padStart(2, '0'))
const input = (n: number) => String.fromCharCode(...Array.from({ length: n }, (_, i) => i))

describe('sipHash128', () => {
  test.each(Object.entries(VECTORS))('with 2 and 4 rounds, gives the reference output for %s bytes', (n, expected) => {
    expect(bytesOf(sipHash128(REFERENCE_KEY, input(Number(n)), 2, 4)).join('')).toBe(expected)
  })

  test('by default SipHash-1-3: other rounds than the reference, the same function of them', () => {
    const key = randomSipKey()
    expect(sipHash128(key, 'pk-abc')).toBe(sipHash128(key, 'pk-abc', 1, 3))
    expect(sipHash128(key, 'pk-abc')).not.toBe(sipHash128(key, 'pk-abc', 2, 4))
  })

  test('is 8 characters, stable for a key, and another key gives another output', () => {
    const key = randomSipKey()
    const tag = sipHash128(key, 'pk-abc')
    expect(tag).toHaveLength(8)
    expect(sipHash128(key, 'pk-abc')).toBe(tag)
    expect(sipHash128(randomSipKey(), 'pk-abc')).not.toBe(tag)
  })

  test('a string with a character above 0xff is not read as the byte string it would be cut to', () => {
    const key = randomSipKey()
    // 'aĀ' (0x100) cut to bytes is 'a\0'; read as UTF-16 bytes it is 61 00 00 01, the byte string 'a\0\0\x01':
    // both must differ from it.
    expect(sipHash128(key, 'a\u0100')).not.toBe(sipHash128(key, 'a\u0000'))
    expect(sipHash128(key, 'a\u0100')).not.toBe(sipHash128(key, 'a\u0000\u0000\u0001'))
    expect(sipHash128(key, 'a\u0100')).toBe(sipHash128(key, 'a\u0100'))
    expect(sipHash128(key, 'a\u0100')).toHaveLength(8)
  })

  test('no two of 200,000 distinct inputs share an output (SipHash-1-3)', () => {
    const key = randomSipKey()
    const seen = new Set<string>()
    for (let i = 0; i < 200_000; i++) seen.add(sipHash128(key, `pk-${i.toString(36)}`))
    expect(seen.size).toBe(200_000)
  })

  test('attack: the same as an independent SipHash (64-bit BigInt words) on every length to 300, byte strings and wide', () => {
    // The 32-bit halves' carries and rotations, the last word's length byte (past 255 it wraps), and a wide
    // string's UTF-16 bytes under key words 4–7: against the reference algorithm written the plain way.
    const key = randomSipKey()
    const word = (i: number) => BigInt((key[i] as number) >>> 0) | (BigInt((key[i + 1] as number) >>> 0) << 32n)
    let seed = 0x2545f491
    const random = (below: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0
      return seed % below
    }
    for (const [c, d] of [
      [1, 3],
      [2, 4],
    ] as const) {
      for (let n = 0; n <= 300; n++) {
        const narrow = Array.from({ length: n }, () => random(256))
        expect(bytesOf(sipHash128(key, String.fromCharCode(...narrow), c, d))).toEqual(
          referenceSipHash128(word(0), word(2), narrow, c, d),
        )
        if (n === 0) continue
        const wide = Array.from({ length: n }, () => random(0x10000))
        wide[random(n)] = 0x100 + random(0xff00)
        expect(bytesOf(sipHash128(key, String.fromCharCode(...wide), c, d))).toEqual(
          referenceSipHash128(
            word(4),
            word(6),
            wide.flatMap((unit) => [unit & 0xff, unit >>> 8]),
            c,
            d,
          ),
        )
      }
    }
  })
})

describe("sipHash13 (the tag's, written out)", () => {
  test('the same as sipHash128 with 1 and 3 rounds and the independent SipHash, on every length to 300, byte strings and wide', () => {
    const key = randomSipKey()
    const word = (i: number) => BigInt((key[i] as number) >>> 0) | (BigInt((key[i + 1] as number) >>> 0) << 32n)
    let seed = 0x1b873593
    const random = (below: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0
      return seed % below
    }
    for (let n = 0; n <= 300; n++) {
      const narrow = Array.from({ length: n }, () => random(256))
      const bytes = String.fromCharCode(...narrow)
      expect(sipHash13(key, bytes)).toBe(sipHash128(key, bytes, 1, 3))
      expect(bytesOf(sipHash13(key, bytes))).toEqual(referenceSipHash128(word(0), word(2), narrow, 1, 3))
      if (n === 0) continue
      // One character above 0xff anywhere, the last word's included: read as UTF-16 under key words 4-7.
      const wide = [...narrow]
      wide[random(n)] = 0x100 + random(0xff00)
      const text = String.fromCharCode(...wide)
      expect(sipHash13(key, text)).toBe(sipHash128(key, text, 1, 3))
      expect(sipHash13(key, text)).not.toBe(sipHash13(key, String.fromCharCode(...wide.map((unit) => unit & 0xff))))
    }
  })
})

/** SipHash-c-d-128 (the reference code's algorithm) on 64-bit BigInt words: its 16 output bytes, as hex. */
function referenceSipHash128(k0: bigint, k1: bigint, bytes: readonly number[], c: number, d: number): string[] {
  const mask = (1n << 64n) - 1n
  const rotl = (x: bigint, b: bigint) => ((x << b) | (x >> (64n - b))) & mask
  let v0 = k0 ^ 0x736f6d6570736575n
  let v1 = k1 ^ 0x646f72616e646f6dn ^ 0xeen
  let v2 = k0 ^ 0x6c7967656e657261n
  let v3 = k1 ^ 0x7465646279746573n
  const round = () => {
    v0 = (v0 + v1) & mask
    v1 = rotl(v1, 13n) ^ v0
    v0 = rotl(v0, 32n)
    v2 = (v2 + v3) & mask
    v3 = rotl(v3, 16n) ^ v2
    v0 = (v0 + v3) & mask
    v3 = rotl(v3, 21n) ^ v0
    v2 = (v2 + v1) & mask
    v1 = rotl(v1, 17n) ^ v2
    v2 = rotl(v2, 32n)
  }
  const padded = [...bytes]
  while (padded.length % 8 !== 7) padded.push(0)
  padded.push(bytes.length & 0xff)
  for (let i = 0; i < padded.length; i += 8) {
    let m = 0n
    for (let j = 7; j >= 0; j--) m = (m << 8n) | BigInt(padded[i + j] as number)
    v3 ^= m
    for (let r = 0; r < c; r++) round()
    v0 ^= m
  }
  v2 ^= 0xeen
  for (let r = 0; r < d; r++) round()
  const first = v0 ^ v1 ^ v2 ^ v3
  v1 ^= 0xddn
  for (let r = 0; r < d; r++) round()
  const second = v0 ^ v1 ^ v2 ^ v3
  return [first, second].flatMap((w) =>
    Array.from({ length: 8 }, (_, i) =>
      Number((w >> BigInt(8 * i)) & 0xffn)
        .toString(16)
        .padStart(2, '0'),
    ),
  )
}
