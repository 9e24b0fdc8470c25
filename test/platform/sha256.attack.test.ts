import { createHmac, hash, randomBytes } from 'node:crypto'
import type { FastifyRequest } from 'fastify'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { fingerprint as nodeFingerprint } from '../../src/credential/header.js'
import { pseudonym } from '../../src/identity.js'
import { portkeyAuth } from '../../src/fastify/index.js'
import { hmacSha256Base64url, sha256, sha256Base64url } from '../../src/platform/sha256.js'
import { keyRecord } from '../../src/testing/records.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { startFastify } from '../fastify/app.js'
import { expectAuthError } from '../support/core-helpers.js'
import { closeAfterTest, LIVE, seedKeys, send, useStub } from '../support/servers.js'
import { sendRaw } from '../support/raw-socket.js'

// Attacks on the JavaScript SHA-256 behind credential fingerprints (cache keys, the Redis tier's fleet-wide
// keys) and pseudonyms: it must agree with Node's on every input, so that instances on different runtimes
// share one Redis tier, and two different credentials must never share a cache entry.

const node = (data: string | Uint8Array) => hash('sha256', data, 'base64url')

afterEach(() => {
  vi.unstubAllGlobals()
  vi.resetModules()
})

/** Characters of each width UTF-8 gives them: 1 byte, 2 (Latin-1 and above), 3 (BMP), 4 (astral, a pair). */
const ALPHABETS = {
  ascii: 'k',
  latin1: 'é', // 2 bytes
  ascii_low_byte_of_wide: '\u0141', // low byte 0x41 'A': a digest that dropped the high byte would collide
  bmp: '日', // 3 bytes
  astral: '🔑', // 4 bytes, 2 UTF-16 units
} as const

/** Byte lengths at and around each padding edge: 55 fits one block, 56 needs two, 64 is a whole block... */
const EDGES = [0, 1, 3, 4, 5, 54, 55, 56, 57, 60, 63, 64, 65, 118, 119, 120, 121, 127, 128, 129, 4095, 4096, 4097]

/** A string of exactly `bytes` UTF-8 bytes, mostly `char`, topped up with ASCII. */
function ofBytes(char: string, bytes: number): string {
  const width = Buffer.byteLength(char)
  const text = char.repeat(Math.floor(bytes / width))
  return text + 'a'.repeat(bytes - Buffer.byteLength(text))
}

describe('attack: JavaScript digest vs Node', () => {
  test('agree at every padding edge, in every character width, interleaved long and short (scratch reuse)', () => {
    const long = randomBytes(256 * 1024).toString('base64url')
    for (const [name, char] of Object.entries(ALPHABETS)) {
      for (const bytes of EDGES) {
        const text = ofBytes(char, bytes)
        expect(Buffer.byteLength(text)).toBe(bytes)
        expect(sha256Base64url(text), `${name} ${bytes}`).toBe(node(text))
        // A very long one in between: its words must not leak into the next, shorter digest.
        expect(sha256Base64url(long)).toBe(node(long))
        expect(sha256Base64url(text), `${name} ${bytes} after a long one`).toBe(node(text))
        const asBytes = Buffer.from(text)
        expect(Buffer.from(sha256(asBytes)).equals(hash('sha256', asBytes, 'buffer')), `${name} ${bytes} bytes`).toBe(true)
      }
    }
  })

  test('strings differing only in a character above 0xFF (same low byte) never share a digest', () => {
    const seen = new Map<string, string>()
    for (const base of ['pk-live-', 'x'.repeat(55), 'x'.repeat(63)]) {
      for (const char of ['A', '\u0141', '\u0241', '\uff41', '\u00c1', '\u0000', '\u0100', '\ud835\udc00']) {
        const text = base + char
        const digest = sha256Base64url(text)
        expect(digest, JSON.stringify(text)).toBe(node(text))
        expect(seen.get(digest), `${JSON.stringify(text)} collides`).toBeUndefined()
        seen.set(digest, text)
      }
    }
  })

  test('lone surrogates hash as U+FFFD in both (the one equivalence), so they must never reach the cache', () => {
    // Node and TextEncoder agree: a lone surrogate is U+FFFD. Both digests equal: documented, and harmless only
    // because such a credential is refused before any look-up (next test).
    for (const lone of ['\ud800', '\udbff', '\udc00', '\udfff']) {
      expect(sha256Base64url(`pk-${lone}`)).toBe(node(`pk-${lone}`))
      expect(sha256Base64url(`pk-${lone}`)).toBe(sha256Base64url('pk-\ufffd'))
    }
  })

  test('HMAC: keys of every length around the block, data interleaved with long digests, agree with Node', () => {
    const long = 'z'.repeat(100_000)
    for (const keyLength of [31, 32, 33, 63, 64, 65, 128]) {
      const key = randomBytes(keyLength)
      for (const data of EDGES.map((n) => ofBytes('é', n))) {
        sha256Base64url(long)
        expect(hmacSha256Base64url(key, data)).toBe(createHmac('sha256', key).update(data).digest('base64url'))
      }
    }
  })

  test('a pseudonym (fleet-wide rate-limit and Redis keys) is the Node digest of its parts, whatever they hold', () => {
    const parts = ['https://issuer.example/', 'org_1', 'user-é-日-🔑-\ud800', 'x'.repeat(200)]
    expect(pseudonym(parts)).toBe(`jwt_${node(JSON.stringify(parts)).slice(0, 16)}`)
  })

  test('where process.getBuiltinModule is absent (a Worker), fingerprint() is the JavaScript one and equals Node', async () => {
    vi.resetModules()
    vi.stubGlobal('process', { ...process, getBuiltinModule: undefined })
    const { fingerprint } = await import('../../src/credential/header.js')
    vi.unstubAllGlobals()
    expect(fingerprint.name).toBe('sha256Base64url')
    for (const bytes of EDGES) {
      const credential = randomBytes(bytes).toString('base64url').slice(0, bytes)
      expect(fingerprint(credential)).toBe(nodeFingerprint(credential))
      expect(fingerprint(credential)).toBe(node(credential))
    }
  })
})

describe('attack: a cached credential shares its entry with no other credential', () => {
  test('over HTTP: near-copies of a cached key (one byte changed, Latin-1 added, case changed, cut) are never served', async () => {
    const stub = await useStub({ keys: seedKeys() })
    const reached: (string | undefined)[] = []
    const app = await startFastify(async (app) => {
      await app.register(portkeyAuth, { controlPlaneUrl: stub.url })
      app.get('/x', (request: FastifyRequest) => {
        reached.push(request.portkey?.keyId)
        return { keyId: request.portkey?.keyId }
      })
    })
    expect((await send(`${app.url}/x`, { 'x-portkey-api-key': LIVE })).status).toBe(200)
    const variants = [
      LIVE.toUpperCase(),
      LIVE.slice(0, -1),
      `${LIVE}\u00e9`,
      `${LIVE.slice(0, -1)}\u00e9`,
      `${LIVE.slice(0, -1)}\u00ff`,
      `${LIVE}g`,
      `pk-live-0123456789abcdeF`,
      // A trailing space would be the same key: HTTP trims it (optional whitespace) before anyone reads it.
    ]
    for (const variant of variants) {
      const res = await sendRaw(app.url, '/x', { headers: { 'x-portkey-api-key': variant } })
      expect(res.status, JSON.stringify(variant)).toBe(401)
    }
    expect(reached).toEqual(['key_live'])
  })

  test('through verifier.check(): a lone-surrogate credential is refused before the cache, never looked up', async () => {
    let lookups = 0
    const verifier = closeAfterTest(
      createVerifier({
        lookup: async () => {
          lookups++
          return keyRecord({ id: 'key_any' })
        },
      }),
    )
    for (const credential of ['pk-\ud800-x', 'pk-\udfff-x', 'pk-\ufffd-x']) {
      await expectAuthError(() => verifier.check({ 'x-portkey-api-key': credential }), 'invalid_api_key', 401)
    }
    expect(lookups).toBe(0)
  })
})
