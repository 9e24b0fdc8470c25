// SipHash with a 128-bit output (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012, and the
// reference code's 128-bit variant), over a string's characters as bytes, in JavaScript: a keyed pseudorandom
// function, so that without the key nobody can make two inputs collide or tell what an output belongs to. By
// default SipHash-1-3 (one round a word, three to finish), the variant Rust's and Python's hash tables use
// against inputs chosen by someone who never sees the outputs, which is the case here; SipHash-2-4, the rounds
// of the reference test vectors, is the same code with other counts (test/platform/siphash.test.ts).
//
// The 64-bit words are kept as two 32-bit halves (high, low) in local variables: V8 compiles the additions,
// rotations and exclusive-ors to 32-bit machine instructions, with no allocation. The input is read eight
// characters to a word; a string with a character above 0xff is read as its UTF-16 code units, two bytes each,
// under the second half of the key material, so that no two strings share an input.
//
// Reached through `#credential-tag` only (credential/tag.ts): the edge bundles never carry this file, so its hot
// function, `sipHash13`, is written out for speed rather than size.

/** The key material: 128 bits for byte strings, and 128 more for the rest. */
export type SipKey = Readonly<Int32Array>

/** A new random key for `sipHash128()`, from the runtime's cryptographic generator. */
export function randomSipKey(): SipKey {
  return crypto.getRandomValues(new Int32Array(8))
}

// The four words of the initial state, k0 and k1 exclusive-ored with "somepseudorandomlygeneratedbytes".
const C0H = 0x736f6d65
const C0L = 0x70736575
const C1H = 0x646f7261
const C1L = 0x6e646f6d
const C2H = 0x6c796765
const C2L = 0x6e657261
const C3H = 0x74656462
const C3L = 0x79746573

/**
 * SipHash-c-d-128 of `input` under `key` (words 0–3: k0 low, k0 high, k1 low, k1 high, as the reference code
 * reads its 16 key bytes, little-endian), as 8 characters of 16 bits each: a string to key a `Map` with, never
 * printed. `key` words 4–7 key the strings with a character above 0xff.
 *
 * @param compressionRounds - rounds per 8-byte word (c), 1 by default
 * @param finalRounds - rounds before each half of the output (d), 3 by default
 */
export function sipHash128(key: SipKey, input: string, compressionRounds = 1, finalRounds = 3): string {
  const data = isBytes(input) ? input : utf16Bytes(input)
  // k0 low, k0 high, k1 low, k1 high; words 4–7 for a string read as its UTF-16 code units.
  const at = data === input ? 0 : 4
  const k0l = key[at] as number
  const k0h = key[at + 1] as number
  const k1l = key[at + 2] as number
  const k1h = key[at + 3] as number
  let v0h = k0h ^ C0H
  let v0l = k0l ^ C0L
  let v1h = k1h ^ C1H
  // The 128-bit variant's 0xee.
  let v1l = k1l ^ C1L ^ 0xee
  let v2h = k0h ^ C2H
  let v2l = k0l ^ C2L
  let v3h = k1h ^ C3H
  let v3l = k1l ^ C3L
  let t = 0
  let firstLow = 0
  let firstHigh = 0
  const length = data.length
  const whole = length & ~7
  // One loop, one copy of the round: a step per 8-byte word (the last one holding the 0–7 bytes left and the
  // length's low byte on top), then the two finalisations, each giving one 64-bit half of the output.
  for (let i = 0; i <= whole + 16; i += 8) {
    let mh = 0
    let ml = 0
    let rounds = compressionRounds
    if (i < whole) {
      ml = data.charCodeAt(i) | (data.charCodeAt(i + 1) << 8) | (data.charCodeAt(i + 2) << 16) | (data.charCodeAt(i + 3) << 24)
      mh =
        data.charCodeAt(i + 4) | (data.charCodeAt(i + 5) << 8) | (data.charCodeAt(i + 6) << 16) | (data.charCodeAt(i + 7) << 24)
    } else if (i === whole) {
      for (let j = whole; j < length; j++) {
        const byte = data.charCodeAt(j)
        if (j - whole < 4) ml |= byte << (8 * (j - whole))
        else mh |= byte << (8 * (j - whole - 4))
      }
      mh |= (length & 0xff) << 24
    } else {
      rounds = finalRounds
      if (i === whole + 8) v2l ^= 0xee
      else {
        firstLow = v0l ^ v1l ^ v2l ^ v3l
        firstHigh = v0h ^ v1h ^ v2h ^ v3h
        v1l ^= 0xdd
      }
    }
    v3h ^= mh
    v3l ^= ml
    for (let r = 0; r < rounds; r++) {
      // v0 += v1; v1 <<<= 13; v1 ^= v0; v0 <<<= 32
      t = (v0l + v1l) | 0
      v0h = (v0h + v1h + (t >>> 0 < v0l >>> 0 ? 1 : 0)) | 0
      v0l = t
      t = (v1h << 13) | (v1l >>> 19)
      v1l = ((v1l << 13) | (v1h >>> 19)) ^ v0l
      v1h = t ^ v0h
      t = v0h
      v0h = v0l
      v0l = t
      // v2 += v3; v3 <<<= 16; v3 ^= v2
      t = (v2l + v3l) | 0
      v2h = (v2h + v3h + (t >>> 0 < v2l >>> 0 ? 1 : 0)) | 0
      v2l = t
      t = (v3h << 16) | (v3l >>> 16)
      v3l = ((v3l << 16) | (v3h >>> 16)) ^ v2l
      v3h = t ^ v2h
      // v0 += v3; v3 <<<= 21; v3 ^= v0
      t = (v0l + v3l) | 0
      v0h = (v0h + v3h + (t >>> 0 < v0l >>> 0 ? 1 : 0)) | 0
      v0l = t
      t = (v3h << 21) | (v3l >>> 11)
      v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l
      v3h = t ^ v0h
      // v2 += v1; v1 <<<= 17; v1 ^= v2; v2 <<<= 32
      t = (v2l + v1l) | 0
      v2h = (v2h + v1h + (t >>> 0 < v2l >>> 0 ? 1 : 0)) | 0
      v2l = t
      t = (v1h << 17) | (v1l >>> 15)
      v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l
      v1h = t ^ v2h
      t = v2h
      v2h = v2l
      v2l = t
    }
    v0h ^= mh
    v0l ^= ml
  }
  const low = v0l ^ v1l ^ v2l ^ v3l
  const high = v0h ^ v1h ^ v2h ^ v3h
  return String.fromCharCode(
    firstLow & 0xffff,
    firstLow >>> 16,
    firstHigh & 0xffff,
    firstHigh >>> 16,
    low & 0xffff,
    low >>> 16,
    high & 0xffff,
    high >>> 16,
  )
}

/**
 * SipHash-1-3-128 of `input` under `key`: `sipHash128(key, input)`, the same output, in about three quarters of the
 * time. This is the tag's hash, on every cached request: one round a word written out with no loop, the
 * characters checked for bytes as they are read (not in a pass before), and the four finishing rounds in a loop of
 * fixed length. A string with a character above 0xff goes to `sipHash128()`. Kept beside the general function,
 * which the reference vectors check; test/platform/siphash.test.ts compares the two on every length to 300.
 */
export function sipHash13(key: SipKey, input: string): string {
  const k0l = key[0] as number
  const k0h = key[1] as number
  const k1l = key[2] as number
  const k1h = key[3] as number
  let v0h = k0h ^ C0H
  let v0l = k0l ^ C0L
  let v1h = k1h ^ C1H
  let v1l = k1l ^ C1L ^ 0xee
  let v2h = k0h ^ C2H
  let v2l = k0l ^ C2L
  let v3h = k1h ^ C3H
  let v3l = k1l ^ C3L
  let t = 0
  let seen = 0
  const length = input.length
  const whole = length & ~7
  for (let i = 0; i <= whole; i += 8) {
    let ml = 0
    let mh = 0
    if (i < whole) {
      const a = input.charCodeAt(i)
      const b = input.charCodeAt(i + 1)
      const c = input.charCodeAt(i + 2)
      const d = input.charCodeAt(i + 3)
      const e = input.charCodeAt(i + 4)
      const f = input.charCodeAt(i + 5)
      const g = input.charCodeAt(i + 6)
      const h = input.charCodeAt(i + 7)
      seen |= a | b | c | d | e | f | g | h
      ml = a | (b << 8) | (c << 16) | (d << 24)
      mh = e | (f << 8) | (g << 16) | (h << 24)
    } else {
      // The last word: the 0–7 bytes left, and the length's low byte on top.
      for (let j = whole; j < length; j++) {
        const byte = input.charCodeAt(j)
        seen |= byte
        if (j - whole < 4) ml |= byte << (8 * (j - whole))
        else mh |= byte << (8 * (j - whole - 4))
      }
      mh |= (length & 0xff) << 24
    }
    v3h ^= mh
    v3l ^= ml
    // The one round of the word (see sipHash128() for each step).
    t = (v0l + v1l) | 0
    v0h = (v0h + v1h + (t >>> 0 < v0l >>> 0 ? 1 : 0)) | 0
    v0l = t
    t = (v1h << 13) | (v1l >>> 19)
    v1l = ((v1l << 13) | (v1h >>> 19)) ^ v0l
    v1h = t ^ v0h
    t = v0h
    v0h = v0l
    v0l = t
    t = (v2l + v3l) | 0
    v2h = (v2h + v3h + (t >>> 0 < v2l >>> 0 ? 1 : 0)) | 0
    v2l = t
    t = (v3h << 16) | (v3l >>> 16)
    v3l = ((v3l << 16) | (v3h >>> 16)) ^ v2l
    v3h = t ^ v2h
    t = (v0l + v3l) | 0
    v0h = (v0h + v3h + (t >>> 0 < v0l >>> 0 ? 1 : 0)) | 0
    v0l = t
    t = (v3h << 21) | (v3l >>> 11)
    v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l
    v3h = t ^ v0h
    t = (v2l + v1l) | 0
    v2h = (v2h + v1h + (t >>> 0 < v2l >>> 0 ? 1 : 0)) | 0
    v2l = t
    t = (v1h << 17) | (v1l >>> 15)
    v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l
    v1h = t ^ v2h
    t = v2h
    v2h = v2l
    v2l = t
    v0h ^= mh
    v0l ^= ml
  }
  if (seen > 0xff) return sipHash128(key, input, 1, 3)
  let firstLow = 0
  let firstHigh = 0
  v2l ^= 0xee
  for (let half = 0; half < 2; half++) {
    for (let r = 0; r < 3; r++) {
      t = (v0l + v1l) | 0
      v0h = (v0h + v1h + (t >>> 0 < v0l >>> 0 ? 1 : 0)) | 0
      v0l = t
      t = (v1h << 13) | (v1l >>> 19)
      v1l = ((v1l << 13) | (v1h >>> 19)) ^ v0l
      v1h = t ^ v0h
      t = v0h
      v0h = v0l
      v0l = t
      t = (v2l + v3l) | 0
      v2h = (v2h + v3h + (t >>> 0 < v2l >>> 0 ? 1 : 0)) | 0
      v2l = t
      t = (v3h << 16) | (v3l >>> 16)
      v3l = ((v3l << 16) | (v3h >>> 16)) ^ v2l
      v3h = t ^ v2h
      t = (v0l + v3l) | 0
      v0h = (v0h + v3h + (t >>> 0 < v0l >>> 0 ? 1 : 0)) | 0
      v0l = t
      t = (v3h << 21) | (v3l >>> 11)
      v3l = ((v3l << 21) | (v3h >>> 11)) ^ v0l
      v3h = t ^ v0h
      t = (v2l + v1l) | 0
      v2h = (v2h + v1h + (t >>> 0 < v2l >>> 0 ? 1 : 0)) | 0
      v2l = t
      t = (v1h << 17) | (v1l >>> 15)
      v1l = ((v1l << 17) | (v1h >>> 15)) ^ v2l
      v1h = t ^ v2h
      t = v2h
      v2h = v2l
      v2l = t
    }
    if (half === 1) break
    firstLow = v0l ^ v1l ^ v2l ^ v3l
    firstHigh = v0h ^ v1h ^ v2h ^ v3h
    v1l ^= 0xdd
  }
  const low = v0l ^ v1l ^ v2l ^ v3l
  const high = v0h ^ v1h ^ v2h ^ v3h
  return String.fromCharCode(
    firstLow & 0xffff,
    firstLow >>> 16,
    firstHigh & 0xffff,
    firstHigh >>> 16,
    low & 0xffff,
    low >>> 16,
    high & 0xffff,
    high >>> 16,
  )
}

/** Whether every character of `input` is a byte (0–0xff): then its characters are its bytes. */
function isBytes(input: string): boolean {
  let seen = 0
  for (let i = 0; i < input.length; i++) seen |= input.charCodeAt(i)
  return seen <= 0xff
}

/** `input`'s UTF-16 code units as a byte string, two characters each (low byte first). */
function utf16Bytes(input: string): string {
  let bytes = ''
  for (let i = 0; i < input.length; i++) {
    const unit = input.charCodeAt(i)
    bytes += String.fromCharCode(unit & 0xff, unit >>> 8)
  }
  return bytes
}
