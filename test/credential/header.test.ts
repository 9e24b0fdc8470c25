import { createHash } from 'node:crypto'
import { describe, expect, test } from 'vitest'
import {
  CREDENTIAL_HEADER,
  checkCredential,
  MAX_CREDENTIAL_BYTES,
  fingerprint,
  takeCredential,
} from '../../src/credential/header.js'
import type { AuthErrorCode } from '../../src/errors.js'
import type { IncomingHeaders } from '../../src/types.js'
import { catchAuthError, expectAuthError } from '../support/core-helpers.js'

/** Both halves, as the verifier runs them before a look-up. */
const readCredential = (headers: IncomingHeaders) => checkCredential(takeCredential(headers))

const JWT =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyXzEiLCJwb3J0a2V5X29pZCI6Im9yZ18xIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJlLWJ5dGVzX3dpdGgtdXJsc2FmZS1jaGFycw'

describe('readCredential', () => {
  test('reads the x-portkey-api-key header', () => {
    expect(CREDENTIAL_HEADER).toBe('x-portkey-api-key')
    expect(readCredential({ 'x-portkey-api-key': 'pk-live-AbC_123/+=' })).toBe('pk-live-AbC_123/+=')
  })

  test.each<[string, string]>([
    ['a Portkey API key', 'pk-9f3a2b7c1d'],
    ['a JWT-shaped token', JWT],
    ['exactly 4096 bytes', 'k'.repeat(4096)],
    [
      'every visible ASCII character but the comma',
      Array.from({ length: 0x7e - 0x21 + 1 }, (_, i) => String.fromCharCode(0x21 + i))
        .join('')
        .replace(',', ''),
    ],
  ])('accepts %s, returned verbatim', (_name, value) => {
    expect(readCredential({ 'x-portkey-api-key': value })).toBe(value)
  })

  test('the limit is 4096', () => {
    expect(MAX_CREDENTIAL_BYTES).toBe(4096)
  })

  test.each<[string, IncomingHeaders, AuthErrorCode, number]>([
    ['missing', {}, 'missing_api_key', 401],
    ['undefined', { 'x-portkey-api-key': undefined }, 'missing_api_key', 401],
    ['empty', { 'x-portkey-api-key': '' }, 'missing_api_key', 401],
    ['only in authorization', { authorization: 'Bearer pk-abc' }, 'missing_api_key', 401],
    ['an array (duplicate header)', { 'x-portkey-api-key': ['pk-a', 'pk-b'] }, 'invalid_request', 400],
    ['an array of one', { 'x-portkey-api-key': ['pk-a'] }, 'invalid_request', 400],
    ['an empty array', { 'x-portkey-api-key': [] }, 'invalid_request', 400],
    ['comma-joined by Node', { 'x-portkey-api-key': 'pk-a, pk-b' }, 'invalid_request', 400],
    ['a bare comma', { 'x-portkey-api-key': 'pk-a,pk-b' }, 'invalid_request', 400],
    ['oversize (4097 bytes)', { 'x-portkey-api-key': 'k'.repeat(4097) }, 'invalid_request', 400],
    ['oversize JWT-shaped', { 'x-portkey-api-key': `${JWT}.${'A'.repeat(4096)}` }, 'invalid_request', 400],
    ['a NUL byte', { 'x-portkey-api-key': 'pk-a\u0000b' }, 'invalid_api_key', 401],
    ['a tab', { 'x-portkey-api-key': 'pk-a\tb' }, 'invalid_api_key', 401],
    ['a newline', { 'x-portkey-api-key': 'pk-a\nb' }, 'invalid_api_key', 401],
    ['an escape', { 'x-portkey-api-key': 'pk-a\u001bb' }, 'invalid_api_key', 401],
    ['DEL', { 'x-portkey-api-key': 'pk-a\u007fb' }, 'invalid_api_key', 401],
    ['an inner space', { 'x-portkey-api-key': 'pk a' }, 'invalid_api_key', 401],
    ['a leading space', { 'x-portkey-api-key': ' pk-a' }, 'invalid_api_key', 401],
    ['only spaces', { 'x-portkey-api-key': '   ' }, 'invalid_api_key', 401],
    ['a "Bearer " prefix', { 'x-portkey-api-key': 'Bearer pk-a' }, 'invalid_api_key', 401],
    ['non-ASCII (Latin-1)', { 'x-portkey-api-key': 'pk-caf\u00e9' }, 'invalid_api_key', 401],
    ['non-ASCII (Cyrillic)', { 'x-portkey-api-key': 'pk-\u043a\u043b\u044e\u0447' }, 'invalid_api_key', 401],
    ['an emoji', { 'x-portkey-api-key': 'pk-\u{1f511}' }, 'invalid_api_key', 401],
  ])('rejects a header that is %s', async (_name, headers, code, status) => {
    const error = await expectAuthError(() => readCredential(headers), code, status)
    expect(error.expose).toBe(true)
  })

  test('a missing key carries a WWW-Authenticate challenge naming the header', async () => {
    const error = await expectAuthError(() => readCredential({}), 'missing_api_key', 401)
    expect(error.headers['www-authenticate']).toMatch(/^Portkey .*header="x-portkey-api-key"/)
  })

  test('a malformed key carries a challenge with its error code', async () => {
    const error = await expectAuthError(() => readCredential({ 'x-portkey-api-key': 'pk a' }), 'invalid_api_key', 401)
    expect(error.headers['www-authenticate']).toContain('error="invalid_api_key"')
  })

  test.each<[string, string | string[]]>([
    ['comma-joined', 'pk-secret-one, pk-secret-two'],
    ['duplicate', ['pk-secret-one', 'pk-secret-two']],
    ['oversize', `pk-secret-one${'x'.repeat(5000)}`],
    ['with a space', 'pk-secret-one two'],
  ])('the error for a %s header never repeats the value', async (_name, value) => {
    const error = await catchAuthError(() => readCredential({ 'x-portkey-api-key': value }))
    const shown = JSON.stringify({ message: error.message, headers: error.headers })
    expect(shown).not.toContain('pk-secret-one')
    expect(shown).not.toContain('pk-secret-two')
  })
})

describe('fingerprint', () => {
  test('is the SHA-256 of the credential in base64url', () => {
    const expected = createHash('sha256').update('pk-abc').digest('base64url')
    expect(fingerprint('pk-abc')).toBe(expected)
    expect(fingerprint('pk-abc')).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  test('is stable, and differs between credentials', () => {
    expect(fingerprint('pk-abc')).toBe(fingerprint('pk-abc'))
    expect(fingerprint('pk-abc')).not.toBe(fingerprint('pk-abd'))
    expect(fingerprint('pk-abc')).not.toBe(fingerprint('PK-ABC'))
  })

  test('never contains the credential', () => {
    const key = 'pk-0123456789abcdefghijklmnopqrstuvwxyz'
    expect(fingerprint(key)).not.toContain(key)
    expect(fingerprint(JWT)).toHaveLength(43)
  })
})
