// SHA-256 (FIPS 180-4) and HMAC-SHA-256 (RFC 2104) in JavaScript: synchronous on every runtime the package
// runs on. Node's `crypto` is not on Workers without `nodejs_compat` nor on Vercel's Edge runtime, and Web
// Crypto's `digest()` is asynchronous, which would put a promise on every cached request. For the short
// inputs hashed here (a credential, a settings key) this is no slower than Node's one-shot `crypto.hash`,
// whose set-up costs more than one 64-byte block; it is checked against Node's on every length up to a few
// blocks and on random inputs (test/platform/sha256.test.ts).

// The round constants and the initial state: the first 32 bits of the fractional parts of the cube roots of
// the first 64 primes, and of the square roots of the first 8 (FIPS 180-4 §4.2.2, §5.3.3). Computed rather
// than listed: doubles carry them exactly, and the test compares every digest with Node's.
const K = new Int32Array(64)
const INITIAL = new Int32Array(8)
{
  const primes: number[] = []
  for (let n = 2; primes.length < 64; n++) if (primes.every((p) => n % p !== 0)) primes.push(n)
  const fraction32 = (x: number): number => ((x - Math.floor(x)) * 0x1_0000_0000) | 0
  for (let i = 0; i < 64; i++) K[i] = fraction32(Math.cbrt(primes[i] as number))
  for (let i = 0; i < 8; i++) INITIAL[i] = fraction32(Math.sqrt(primes[i] as number))
}

// Scratch space, reused: hashing is synchronous, so one call never overlaps another.
const schedule = new Int32Array(64)
const state = new Int32Array(8)
let message = new Int32Array(32)

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const encoder = new TextEncoder()
const BLOCK_BYTES = 64

/** The SHA-256 of `data` (a string is hashed as UTF-8), as its 32 bytes. */
export function sha256(data: string | Uint8Array): Uint8Array {
  digestInto(data)
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = (state[i >> 2] as number) >>> (24 - 8 * (i & 3))
  return out
}

/** The SHA-256 of `data` (a string is hashed as UTF-8), in base64url without padding: 43 characters. */
export function sha256Base64url(data: string | Uint8Array): string {
  digestInto(data)
  return stateBase64url()
}

/** HMAC-SHA-256 of `data` (UTF-8) under `key`, in base64url without padding: 43 characters. */
export function hmacSha256Base64url(key: Uint8Array, data: string): string {
  const block = new Uint8Array(BLOCK_BYTES)
  block.set(key.length > BLOCK_BYTES ? sha256(key) : key)
  const bytes = encoder.encode(data)
  const inner = new Uint8Array(BLOCK_BYTES + bytes.length)
  const outer = new Uint8Array(BLOCK_BYTES + 32)
  for (let i = 0; i < BLOCK_BYTES; i++) {
    inner[i] = (block[i] as number) ^ 0x36
    outer[i] = (block[i] as number) ^ 0x5c
  }
  inner.set(bytes, BLOCK_BYTES)
  outer.set(sha256(inner), BLOCK_BYTES)
  digestInto(outer)
  return stateBase64url()
}

// One character code per output character, reused: `String.fromCharCode` makes the string in one step.
const codes: number[] = new Array(43).fill(0)
const ALPHABET = Array.from(BASE64URL, (c) => c.charCodeAt(0))

/** `state`, the digest just made, in base64url without padding. */
function stateBase64url(): string {
  // Ten groups of 3 bytes (24 bits, 4 characters), then 2 bytes (16 bits, 3 characters): 43 characters.
  let at = 0
  for (let i = 0; i < 30; i += 3) {
    const group = (byteOf(i) << 16) | (byteOf(i + 1) << 8) | byteOf(i + 2)
    codes[at++] = ALPHABET[group >>> 18] as number
    codes[at++] = ALPHABET[(group >>> 12) & 63] as number
    codes[at++] = ALPHABET[(group >>> 6) & 63] as number
    codes[at++] = ALPHABET[group & 63] as number
  }
  const last = (byteOf(30) << 8) | byteOf(31)
  codes[at++] = ALPHABET[last >>> 10] as number
  codes[at++] = ALPHABET[(last >>> 4) & 63] as number
  codes[at] = ALPHABET[(last << 2) & 63] as number
  return String.fromCharCode.apply(null, codes)
}

/** Byte `i` of `state`, big-endian. */
const byteOf = (i: number): number => ((state[i >> 2] as number) >>> (24 - 8 * (i & 3))) & 0xff

/** Hashes `data` into `state`. */
function digestInto(data: string | Uint8Array): void {
  const words = wordsFor(data.length)
  if (typeof data === 'string') {
    // A credential is ASCII, its characters its bytes: packed four at a time. Anything else is encoded first.
    let seen = 0
    const length = data.length
    const whole = length >> 2
    for (let k = 0; k < whole; k++) {
      const i = k << 2
      const a = data.charCodeAt(i)
      const b = data.charCodeAt(i + 1)
      const c = data.charCodeAt(i + 2)
      const d = data.charCodeAt(i + 3)
      seen |= a | b | c | d
      message[k] = (a << 24) | (b << 16) | (c << 8) | d
    }
    let tail = 0x80 << (24 - 8 * (length & 3))
    for (let i = whole << 2; i < length; i++) {
      const a = data.charCodeAt(i)
      seen |= a
      tail |= a << (24 - 8 * (i & 3))
    }
    if (seen > 0x7f) return digestInto(encoder.encode(data))
    message[whole] = tail
    finish(whole + 1, words, length)
    return
  }
  const length = data.length
  message.fill(0, 0, (length >> 2) + 1)
  for (let i = 0; i < length; i++) message[i >> 2] = (message[i >> 2] as number) | ((data[i] as number) << (24 - 8 * (i & 3)))
  message[length >> 2] = (message[length >> 2] as number) | (0x80 << (24 - 8 * (length & 3)))
  finish((length >> 2) + 1, words, length)
}

/** How many words the padded message of `length` bytes takes: the bytes, 0x80, zeros, 8 bytes of length. */
function wordsFor(length: number): number {
  const words = ((length + 8) >>> 6) * 16 + 16
  if (message.length < words) message = new Int32Array(words * 2)
  return words
}

/** Pads `message` from word `from` (zeros, then the length in bits, 64 bits big-endian) and hashes it. */
function finish(from: number, words: number, length: number): void {
  message.fill(0, from, words - 2)
  message[words - 2] = Math.floor(length / 0x2000_0000)
  message[words - 1] = (length << 3) | 0
  state.set(INITIAL)
  for (let offset = 0; offset < words; offset += 16) compress(offset)
  // The message is a credential: not left behind in memory that outlives the call.
  message.fill(0, 0, words)
  schedule.fill(0)
}

/** One 64-byte block of `message`, from word `offset`, into `state` (FIPS 180-4 §6.2.2). */
function compress(offset: number): void {
  const w = schedule
  for (let t = 0; t < 16; t++) w[t] = message[offset + t] as number
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15] as number
    const y = w[t - 2] as number
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3)
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10)
    w[t] = (s1 + (w[t - 7] as number) + s0 + (w[t - 16] as number)) | 0
  }
  let a = state[0] as number
  let b = state[1] as number
  let c = state[2] as number
  let d = state[3] as number
  let e = state[4] as number
  let f = state[5] as number
  let g = state[6] as number
  let h = state[7] as number
  for (let t = 0; t < 64; t++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + (K[t] as number) + (w[t] as number)) | 0
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b
    b = a
    a = (t1 + t2) | 0
  }
  state[0] = ((state[0] as number) + a) | 0
  state[1] = ((state[1] as number) + b) | 0
  state[2] = ((state[2] as number) + c) | 0
  state[3] = ((state[3] as number) + d) | 0
  state[4] = ((state[4] as number) + e) | 0
  state[5] = ((state[5] as number) + f) | 0
  state[6] = ((state[6] as number) + g) | 0
  state[7] = ((state[7] as number) + h) | 0
}
