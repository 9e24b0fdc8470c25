import { describe, expect, test } from 'vitest'
import {
  AUTHORIZATION_HEADER,
  type CredentialSource,
  checkCredential,
  credentialInAuthorization,
  MAX_CREDENTIAL_BYTES,
  takeCredential,
} from '../../src/credential/header.js'
import { type AuthErrorCode, missingApiKey } from '../../src/errors.js'
import type { IncomingHeaders } from '../../src/types.js'
import { catchAuthError, expectAuthError } from '../support/core-helpers.js'

// Issue 15: Portkey takes its key (or JWT) as `Authorization: Bearer <key>` too, when x-portkey-api-key is
// absent: what the OpenAI SDK sends when given `apiKey: <Portkey key>` and a `baseURL`.

const KEY = 'pk-bearer-0123456789abcdef'
const JWT =
  'eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1c2VyXzEiLCJwb3J0a2V5X29pZCI6Im9yZ18xIiwiZXhwIjo0MTAyNDQ0ODAwfQ.c2lnbmF0dXJlLWJ5dGVzX3dpdGgtdXJsc2FmZS1jaGFycw'

/** Both halves with Bearer read, as the verifier runs them before a look-up by default. */
const read = (headers: IncomingHeaders, bearer = true) => checkCredential(takeCredential(headers, source(bearer)))

/** Where a verifier reads the credential: with `bearer`, and JWTs verified (so a JWT may be a Bearer). */
const source = (bearer: boolean, jwt = true): CredentialSource => ({ bearer, jwt })

const BOTH = 'Portkey realm="portkey", header="x-portkey-api-key", Bearer realm="portkey"'
const ONLY_HEADER = 'Portkey realm="portkey", header="x-portkey-api-key"'

describe('takeCredential with Bearer on', () => {
  test('the header name', () => {
    expect(AUTHORIZATION_HEADER).toBe('authorization')
  })

  test.each<[string, string, string]>([
    ['Bearer <key>', `Bearer ${KEY}`, KEY],
    ['lower-case scheme', `bearer ${KEY}`, KEY],
    ['upper-case scheme', `BEARER ${KEY}`, KEY],
    ['mixed-case scheme', `BeArEr ${KEY}`, KEY],
    ['several spaces after the scheme', `Bearer    ${KEY}`, KEY],
    ['a tab after the scheme', `Bearer\t${KEY}`, KEY],
    ['a JWT', `Bearer ${JWT}`, JWT],
    ['a key that merely contains a provider prefix', 'Bearer pk-sk-AIza-0123456789', 'pk-sk-AIza-0123456789'],
    ['a token of exactly 4096 bytes', `Bearer ${'k'.repeat(4096)}`, 'k'.repeat(4096)],
  ])('reads %s', (_name, authorization, expected) => {
    expect(read({ authorization })).toBe(expected)
  })

  test.each([
    ['an OpenAI key', 'sk-proj-provider-0123456789'],
    ['an Anthropic key', 'sk-ant-api03-0123456789'],
    ['a Google key', 'AIzaSy0123456789'],
    ['a Groq key', 'gsk_0123456789'],
  ])('refuses %s as no Portkey credential (401 missing_api_key), naming neither the key nor sending it', async (_name, token) => {
    const error = await catchAuthError(() => read({ authorization: `Bearer ${token}` }))
    expect(error.code).toBe('missing_api_key')
    expect(error.message).not.toContain(token)
  })

  test('refuses a JWT where JWTs are not verified; reads it where they are', async () => {
    expect((await catchAuthError(() => takeCredential({ authorization: `Bearer ${JWT}` }, source(true, false)))).code).toBe(
      'missing_api_key',
    )
    expect(takeCredential({ authorization: `Bearer ${JWT}` }, source(true, true))).toBe(JWT)
  })

  test('x-portkey-api-key wins when both are sent: the Authorization (a provider key) is not taken', () => {
    expect(read({ 'x-portkey-api-key': KEY, authorization: 'Bearer sk-provider-0123456789' })).toBe(KEY)
  })

  test('an empty x-portkey-api-key counts as absent, as it always counted as missing', () => {
    expect(read({ 'x-portkey-api-key': '', authorization: `Bearer ${KEY}` })).toBe(KEY)
  })

  test.each<[string, IncomingHeaders, AuthErrorCode, number]>([
    ['no header at all', {}, 'missing_api_key', 401],
    ['an empty Authorization', { authorization: '' }, 'missing_api_key', 401],
    ['"Bearer" with no token', { authorization: 'Bearer' }, 'missing_api_key', 401],
    ['"Bearer " with an empty token', { authorization: 'Bearer ' }, 'missing_api_key', 401],
    ['"Bearer" and blanks only', { authorization: 'Bearer \t  ' }, 'missing_api_key', 401],
    ['Basic credentials', { authorization: 'Basic dXNlcjpwYXNzd29yZA==' }, 'missing_api_key', 401],
    ['another scheme', { authorization: `Token ${KEY}` }, 'missing_api_key', 401],
    ['a bare key with no scheme', { authorization: KEY }, 'missing_api_key', 401],
    ['"Bearer" glued to the key (another scheme name)', { authorization: `Bearer${KEY}` }, 'missing_api_key', 401],
    ['two values (an array)', { authorization: [`Bearer ${KEY}`, 'Bearer pk-other-0123456789'] }, 'invalid_request', 400],
    ['an array of one', { authorization: [`Bearer ${KEY}`] }, 'invalid_request', 400],
    [
      'two values joined with ", " (Web Headers)',
      { authorization: `Bearer ${KEY}, Bearer pk-b-0123456789` },
      'invalid_request',
      400,
    ],
    ['a comma in the token', { authorization: `Bearer ${KEY},x` }, 'invalid_request', 400],
    ['a token of 4097 bytes', { authorization: `Bearer ${'k'.repeat(4097)}` }, 'invalid_request', 400],
    ['an inner space in the token', { authorization: 'Bearer pk-a pk-b' }, 'invalid_api_key', 401],
    ['a non-ASCII token', { authorization: 'Bearer pk-caf\u00e9' }, 'invalid_api_key', 401],
    ['a control character in the token', { authorization: 'Bearer pk-a\u0000b' }, 'invalid_api_key', 401],
  ])('refuses %s', async (_name, headers, code, status) => {
    await expectAuthError(() => read(headers), code, status)
  })

  test.each<[string, IncomingHeaders, AuthErrorCode, number]>([
    ['repeated', { 'x-portkey-api-key': [KEY, KEY], authorization: `Bearer ${KEY}` }, 'invalid_request', 400],
    ['malformed', { 'x-portkey-api-key': 'pk a', authorization: `Bearer ${KEY}` }, 'invalid_api_key', 401],
    ['oversize', { 'x-portkey-api-key': 'k'.repeat(4097), authorization: `Bearer ${KEY}` }, 'invalid_request', 400],
  ])(
    'a %s x-portkey-api-key is refused as before, never replaced by the Bearer beside it',
    async (_name, headers, code, status) => {
      await expectAuthError(() => read(headers), code, status)
    },
  )

  test('a missing credential names both headers, in the message and in WWW-Authenticate', async () => {
    const error = await expectAuthError(() => read({ authorization: 'Basic dXNlcjpwYXNz' }), 'missing_api_key', 401)
    expect(error.message).toBe(
      'Missing credential: send your Portkey API key in the x-portkey-api-key header or as Authorization: Bearer <key>.',
    )
    expect(error.headers).toStrictEqual({ 'www-authenticate': BOTH })
  })

  test.each<[string, string | string[]]>([
    ['repeated', [`Bearer ${KEY}`, 'Bearer pk-second-0123456789']],
    ['comma-joined', `Bearer ${KEY}, Bearer pk-second-0123456789`],
    ['oversize', `Bearer ${KEY}${'x'.repeat(5000)}`],
    ['with a space', `Bearer ${KEY} pk-second-0123456789`],
  ])('the error for a %s Bearer token never repeats it', async (_name, authorization) => {
    const error = await catchAuthError(() => read({ authorization }))
    const shown = JSON.stringify({ message: error.message, headers: error.headers })
    expect(shown).not.toContain(KEY)
    expect(shown).not.toContain('pk-second')
  })

  test('the limit applies to the token, not to the scheme in front of it', () => {
    expect(MAX_CREDENTIAL_BYTES).toBe(4096)
    expect(read({ authorization: `bearer  ${'k'.repeat(MAX_CREDENTIAL_BYTES)}` })).toHaveLength(MAX_CREDENTIAL_BYTES)
  })
})

describe('takeCredential with Bearer off', () => {
  test('Authorization is never read: a Bearer alone is a missing credential that names x-portkey-api-key only', async () => {
    const error = await expectAuthError(() => read({ authorization: `Bearer ${KEY}` }, false), 'missing_api_key', 401)
    expect(error.message).toBe('Missing credential: send your Portkey API key in the x-portkey-api-key header.')
    expect(error.headers).toStrictEqual({ 'www-authenticate': ONLY_HEADER })
  })

  test('off is the default of the bare function (the verifier passes its option)', async () => {
    await expectAuthError(() => checkCredential(takeCredential({ authorization: `Bearer ${KEY}` })), 'missing_api_key', 401)
  })

  test('missingApiKey() alone is the x-portkey-api-key-only refusal', () => {
    expect(missingApiKey().headers).toStrictEqual({ 'www-authenticate': ONLY_HEADER })
    expect(missingApiKey(true).headers).toStrictEqual({ 'www-authenticate': BOTH })
  })
})

describe('the hot path', () => {
  /** Headers that record every name read from them. */
  function recording(headers: Record<string, string>) {
    const reads: string[] = []
    const proxy = new Proxy(headers, {
      get(target, name) {
        if (typeof name === 'string') reads.push(name)
        return target[name as string]
      },
    })
    return { headers: proxy as IncomingHeaders, reads }
  }

  test('with x-portkey-api-key present, Authorization is not even read', () => {
    const { headers, reads } = recording({ 'x-portkey-api-key': KEY, authorization: 'Bearer sk-provider-0123456789' })
    expect(takeCredential(headers, source(true))).toBe(KEY)
    expect(reads).not.toContain('authorization')
  })

  test('with Bearer off, Authorization is only looked at to say once how to turn it on', async () => {
    const { headers, reads } = recording({ authorization: `Bearer ${KEY}` })
    let told = 0
    const error = await catchAuthError(() =>
      takeCredential(headers, { bearer: false, jwt: false, authorizationOnly: () => told++ }),
    )
    expect(error.code).toBe('missing_api_key')
    expect(told).toBe(1)
    expect(reads.filter((name) => name === 'authorization')).toHaveLength(1)
    const { headers: keyed, reads: keyedReads } = recording({ 'x-portkey-api-key': KEY, authorization: `Bearer ${KEY}` })
    expect(takeCredential(keyed, { bearer: false, jwt: false, authorizationOnly: () => told++ })).toBe(KEY)
    expect(keyedReads).not.toContain('authorization')
    expect(told).toBe(1)
  })

  test('with x-portkey-api-key absent and Bearer on, it is read once', () => {
    const { headers, reads } = recording({ authorization: `Bearer ${KEY}` })
    expect(takeCredential(headers, source(true))).toBe(KEY)
    expect(reads.filter((name) => name === 'authorization')).toHaveLength(1)
  })
})

describe('credentialInAuthorization (what hideCredentials removes besides x-portkey-api-key)', () => {
  test.each<[string, Record<string, unknown>, boolean, boolean]>([
    ['a Bearer alone', { authorization: `Bearer ${KEY}` }, true, true],
    ['a lower-case bearer', { authorization: `bearer ${KEY}` }, true, true],
    ['a Bearer with an empty token', { authorization: 'Bearer' }, true, true],
    ['a Bearer beside an empty x-portkey-api-key', { 'x-portkey-api-key': '', authorization: `Bearer ${KEY}` }, true, true],
    [
      'a Bearer beside x-portkey-api-key (a provider key)',
      { 'x-portkey-api-key': KEY, authorization: 'Bearer sk-p' },
      true,
      false,
    ],
    [
      'a Bearer beside a repeated x-portkey-api-key',
      { 'x-portkey-api-key': `${KEY}, ${KEY}`, authorization: 'Bearer x' },
      true,
      false,
    ],
    ['Basic credentials', { authorization: 'Basic dXNlcjpwYXNz' }, true, false],
    ['a provider key alone (never the credential: the app may forward it)', { authorization: 'Bearer sk-proj-1' }, true, false],
    ['"Bearer" glued to a value', { authorization: `Bearer${KEY}` }, true, false],
    ['no Authorization', {}, true, false],
    ['a Bearer alone, Bearer off', { authorization: `Bearer ${KEY}` }, false, false],
  ])('%s', (_name, headers, bearer, expected) => {
    expect(credentialInAuthorization(headers, bearer)).toBe(expected)
  })
})
