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
  let v0h = 0
  let v0l = 0
  let v1h = 0
  let v1l = 0
  let v2h = 0
  let v2l = 0
  let v3h = 0
  let v3l = 0
  let mh = 0
  let ml = 0
  let t = 0
  let wide = 0
  let data = input
  for (;;) {
    // k0 low, k0 high, k1 low, k1 high; the 128-bit variant's 0xee in v1.
    const k0l = key[wide] as number
    const k0h = key[wide + 1] as number
    const k1l = key[wide + 2] as number
    const k1h = key[wide + 3] as number
    v0h = k0h ^ C0H
    v0l = k0l ^ C0L
    v1h = k1h ^ C1H
    v1l = k1l ^ C1L ^ 0xee
    v2h = k0h ^ C2H
    v2l = k0l ^ C2L
    v3h = k1h ^ C3H
    v3l = k1l ^ C3L
    const length = data.length
    const whole = length & ~7
    let seen = 0
    for (let i = 0; i <= whole; i += 8) {
      // The last word: the 0–7 bytes left, and the length's low byte on top.
      let a = 0
      let b = 0
      let c = 0
      let d = 0
      let e = 0
      let f = 0
      let g = 0
      let h = 0
      if (i < whole) {
        a = data.charCodeAt(i)
        b = data.charCodeAt(i + 1)
        c = data.charCodeAt(i + 2)
        d = data.charCodeAt(i + 3)
        e = data.charCodeAt(i + 4)
        f = data.charCodeAt(i + 5)
        g = data.charCodeAt(i + 6)
        h = data.charCodeAt(i + 7)
      } else {
        const left = length - whole
        if (left > 0) a = data.charCodeAt(i)
        if (left > 1) b = data.charCodeAt(i + 1)
        if (left > 2) c = data.charCodeAt(i + 2)
        if (left > 3) d = data.charCodeAt(i + 3)
        if (left > 4) e = data.charCodeAt(i + 4)
        if (left > 5) f = data.charCodeAt(i + 5)
        if (left > 6) g = data.charCodeAt(i + 6)
        h = length & 0xff
      }
      seen |= a | b | c | d | e | f | g | h
      ml = a | (b << 8) | (c << 16) | (d << 24)
      mh = e | (f << 8) | (g << 16) | (h << 24)
      v3h ^= mh
      v3l ^= ml
      for (let r = 0; r < compressionRounds; r++) {
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
    // Only the length's byte is above 0xff in a byte string's last word: a character above it is read again.
    if ((seen & ~0xff) !== 0 && wide === 0) {
      data = utf16Bytes(input)
      wide = 4
      continue
    }
    break
  }
  // The two output words, each as four 16-bit characters, low first (the reference code's byte order, two at a time).
  let firstLow = 0
  let firstHigh = 0
  v2l ^= 0xee
  for (let half = 0; half < 2; half++) {
    for (let r = 0; r < finalRounds; r++) {
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

/** `input`'s UTF-16 code units as a byte string, two characters each (low byte first). */
function utf16Bytes(input: string): string {
  let bytes = ''
  for (let i = 0; i < input.length; i++) {
    const unit = input.charCodeAt(i)
    bytes += String.fromCharCode(unit & 0xff, unit >>> 8)
  }
  return bytes
}
