import { createHmac, hash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { hmacSha256Base64url, sha256, sha256Base64url } from '../../src/platform/sha256.js'

// Node's crypto is the reference: the JavaScript digest must agree with it on every input it may be given.
const node = (data: string | Uint8Array) => hash('sha256', data, 'base64url')

describe('sha256', () => {
  it('gives the FIPS 180-4 test vectors', () => {
    expect(Buffer.from(sha256('abc')).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    expect(Buffer.from(sha256('')).toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
    expect(Buffer.from(sha256('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toString('hex')).toBe(
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
    )
  })

  it('agrees with Node on every length across four blocks (each padding boundary)', () => {
    for (let length = 0; length <= 260; length++) {
      const text = 'k'.repeat(length)
      expect(sha256Base64url(text), `length ${length}`).toBe(node(text))
      const bytes = randomBytes(length)
      expect(sha256Base64url(bytes), `bytes ${length}`).toBe(node(bytes))
    }
  })

  it('hashes a string as UTF-8, whatever its characters (lone surrogates as U+FFFD, as TextEncoder does)', () => {
    for (const text of ['é', 'pk-é', '日本語のキー', '🔑'.repeat(40), 'a\u0000b', '\ud800x', 'x\udfff']) {
      expect(sha256Base64url(text)).toBe(node(Buffer.from(new TextEncoder().encode(text))))
    }
  })

  it('agrees with Node on random inputs, interleaved so that scratch space left by a long one shows', () => {
    for (let i = 0; i < 500; i++) {
      const bytes = randomBytes(Math.floor(Math.random() * (i % 7 === 0 ? 5000 : 120)))
      const text = bytes.toString('base64url')
      expect(sha256Base64url(text)).toBe(node(text))
      expect(Buffer.from(sha256(bytes)).equals(hash('sha256', bytes, 'buffer'))).toBe(true)
    }
  })
})

describe('hmacSha256Base64url', () => {
  it('agrees with Node for keys shorter than, equal to and longer than a block', () => {
    for (const keyLength of [0, 1, 32, 63, 64, 65, 200]) {
      const key = randomBytes(keyLength)
      for (const data of ['', 'user-1', 'é'.repeat(70), randomBytes(300).toString('hex')]) {
        const expected = createHmac('sha256', key).update(data).digest('base64url')
        expect(hmacSha256Base64url(key, data), `key ${keyLength}`).toBe(expected)
      }
    }
  })
})

describe('fingerprint', () => {
  it('is the same digest whichever implementation the runtime gets (instances on different runtimes share Redis)', async () => {
    const { fingerprint } = await import('../../src/credential/header.js')
    for (const credential of ['pk-abc', 'eyJ'.padEnd(700, 'x'), 'é'])
      expect(fingerprint(credential)).toBe(sha256Base64url(credential))
  })
})
