import fc from 'fast-check'
import type { JWTPayload } from 'jose'
import { describe, expect, test } from 'vitest'
import { claimsToAuth } from '../../src/credential/claims.js'
import { checkCredential, MAX_CREDENTIAL_BYTES, takeCredential } from '../../src/credential/header.js'
import { AuthError, ClaimsError, errorBody } from '../../src/errors.js'
import type { IncomingHeaders, KeyRecord } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { readVirtualKeySlug } from '../../src/virtual-key/virtual-key.js'
import { keyRecord } from '../../src/testing/index.js'
import { countingLookup } from '../support/core-helpers.js'
import { acceptable } from './acceptable.js'

/** Both halves of the credential check, as the verifier runs them before a look-up. */
const readCredential = (headers: IncomingHeaders) => checkCredential(takeCredential(headers))

/** Bytes as Node hands header bytes to JavaScript: one char per byte (latin1). */
const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1')

/** Header values of every kind: unicode, ASCII, latin1 bytes, near the size limit, credential-shaped, repeated, absent. */
const headerValue: fc.Arbitrary<string | string[] | undefined> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'binary-ascii', maxLength: 40 }),
  fc.uint8Array({ maxLength: 60 }).map(latin1),
  fc.uint8Array({ minLength: 1, maxLength: 8, min: 0x21, max: 0x7e }).map(latin1),
  fc.stringMatching(/^[\x21-\x7e]{1,60}$/),
  fc
    .tuple(fc.integer({ min: MAX_CREDENTIAL_BYTES - 2, max: MAX_CREDENTIAL_BYTES + 2 }), fc.constantFrom('k', 'é', ','))
    .map(([length, char]) => `pk-${char.repeat(length - 3)}`),
  fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }),
  fc.constantFrom(undefined, '', ' ', ',', 'pk-a, pk-b'),
)

/** The refusal the earlier issues specify for a value that is not `acceptable`. */
function refusal(value: unknown): string {
  if (value === undefined || value === '') return '401 missing_api_key'
  if (typeof value !== 'string' || value.includes(',') || value.length > MAX_CREDENTIAL_BYTES) return '400 invalid_request'
  return '401 invalid_api_key'
}

/** Runs `fn`, returning what it returned or the error it threw. */
function outcome<T>(fn: () => T): { value: T } | { error: unknown } {
  try {
    return { value: fn() }
  } catch (error) {
    return { error }
  }
}

describe('readCredential', () => {
  test('returns the value unchanged or throws AuthError, never anything else; accepts exactly the credential shape', () => {
    const seen = { accepted: 0, rejected: 0 }
    fc.assert(
      fc.property(headerValue, (value) => {
        const result = outcome(() => readCredential({ 'x-portkey-api-key': value }))
        seen['value' in result ? 'accepted' : 'rejected']++
        if ('value' in result) {
          expect(result.value).toBe(value)
          expect(acceptable(value)).toBe(true)
        } else {
          expect(result.error).toBeInstanceOf(AuthError)
          const error = result.error as AuthError
          expect(acceptable(value)).toBe(false)
          expect(`${error.status} ${error.code}`).toBe(refusal(value))
        }
      }),
      { numRuns: 1_000 },
    )
    // Both branches were exercised.
    expect(Math.min(seen.accepted, seen.rejected)).toBeGreaterThan(50)
  })
})

describe('readVirtualKeySlug', () => {
  const slugish = fc.stringMatching(/^[A-Za-z0-9_.\-/@ ]{0,130}$/)
  const slugHeader = fc.oneof(
    headerValue,
    slugish,
    slugish.map((slug) => `@${slug}`),
  )

  test('with both headers arbitrary: null, one of the named slugs, or AuthError 400, never anything else', () => {
    const seen = { none: 0, slug: 0, error: 0 }
    fc.assert(
      fc.property(slugHeader, slugHeader, (named, provider) => {
        const headers: IncomingHeaders = { 'x-portkey-virtual-key': named, 'x-portkey-provider': provider }
        const result = outcome(() => readVirtualKeySlug(headers))
        seen['error' in result ? 'error' : result.value === null ? 'none' : 'slug']++
        if ('error' in result) {
          expect(result.error).toBeInstanceOf(AuthError)
          expect((result.error as AuthError).code).toBe('invalid_request')
          expect((result.error as AuthError).status).toBe(400)
          return
        }
        const slug = result.value
        if (slug === null) return
        // What it returns was named by one of the headers, and has the slug shape.
        const fromProvider = typeof provider === 'string' && provider.startsWith('@') ? provider.slice(1) : undefined
        expect([named, fromProvider]).toContain(slug)
        expect(slug).toMatch(/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/)
      }),
      { numRuns: 3_000 },
    )
    // Each outcome at least 2 % of the runs, as over the 1,000 runs before, where the rarest (null, about 3.3 %: 85 to
    // 110 of 3,000 in four runs) fell to 20 by chance in one CI run; over 3,000, 60 is four standard deviations off.
    expect(Math.min(seen.none, seen.slug, seen.error)).toBeGreaterThan(60)
  })
})

describe('the verifier on arbitrary input', () => {
  test('no look-up for any value readCredential rejects, and the same AuthError; one look-up for the others', async () => {
    await fc.assert(
      fc.asyncProperty(headerValue, async (value) => {
        const fake = countingLookup(() => null)
        const verifier = createVerifier({ lookup: fake.lookup })
        const headers = { 'x-portkey-api-key': value }
        const parsed = outcome(() => readCredential(headers))
        const error = await verifier.verify(headers).then(
          () => null,
          (thrown: unknown) => thrown,
        )
        expect(error).toBeInstanceOf(AuthError)
        if ('error' in parsed) {
          expect(fake.count).toBe(0)
          expect((error as AuthError).code).toBe((parsed.error as AuthError).code)
        } else {
          expect(fake.keys).toEqual([value])
          expect((error as AuthError).code).toBe('invalid_api_key')
        }
      }),
      { numRuns: 300 },
    )
  })

  const credential = fc.oneof(
    fc.stringMatching(/^[\x21-\x2b\x2d-\x7e]{8,200}$/).map((tail) => `pk-${tail}`),
    fc
      .tuple(fc.base64String({ minLength: 8, maxLength: 40 }), fc.base64String({ minLength: 8, maxLength: 40 }))
      .map(([a, b]) => `eyJ${a.replace(/[+/=]/g, '_')}.${b.replace(/[+/=]/g, '-')}.sig${a.length}`),
  )
  const answers: [string, () => unknown][] = [
    ['unknown', () => null],
    ['exhausted', () => keyRecord({ status: 'exhausted' })],
    ['expired', () => keyRecord({ status: 'expired' })],
    ['archived', () => keyRecord({ status: 'archived' })],
    ['past expires_at', () => keyRecord({ expires_at: '2000-01-01T00:00:00Z' })],
    ['garbled', () => ({ hello: 'world' })],
    ['down', () => Promise.reject(new Error('key service down'))],
  ]

  test('an accepted credential never appears in an error message, body or header, whatever the key service says', async () => {
    await fc.assert(
      fc.asyncProperty(credential, fc.constantFrom(...answers), fc.boolean(), async (value, [, answer], withSlug) => {
        const verifier = createVerifier({
          lookup: async () => (await answer()) as KeyRecord | null,
          lookupVirtualKey: async () => null,
        })
        const headers: IncomingHeaders = {
          'x-portkey-api-key': value,
          ...(withSlug ? { 'x-portkey-virtual-key': 'vk-prop' } : {}),
        }
        const error = await verifier.verify(headers).then(
          () => null,
          (thrown: unknown) => thrown,
        )
        expect(error).toBeInstanceOf(AuthError)
        const auth = error as AuthError
        const shown = [
          auth.message,
          JSON.stringify(errorBody(auth)),
          JSON.stringify(auth.headers),
          String(auth),
          auth.stack ?? '',
        ]
        for (let cause = auth.cause; cause instanceof Error; cause = cause.cause) shown.push(cause.message)
        for (const text of shown) expect(text).not.toContain(value)
      }),
      { numRuns: 150 },
    )
  })
})

describe('claimsToAuth', () => {
  const text = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('', 'org_1', 'ws_1', 'user@example.com'))
  const odd = fc.oneof(
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string(), { maxLength: 3 }),
    fc.object({ maxDepth: 1 }),
  )
  const value = fc.oneof(text, odd)
  const scope = fc
    .tuple(
      fc.constantFrom('', 'portkey.', 'portkey.portkey.', 'Portkey.'),
      fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('completions.write', 'logs.read', '')),
    )
    .map(([prefix, name]) => prefix + name)
  const exp = fc.oneof(
    fc.integer({ min: 0, max: 4_102_444_800 }),
    fc.double(),
    fc.constantFrom(8.64e12, 8.64e12 + 1, -8.64e12, 1e300, Number.MAX_SAFE_INTEGER),
    value,
  )
  const claims = fc
    .tuple(
      fc.record(
        {
          portkey_oid: value,
          organisation_id: value,
          portkey_workspace: value,
          workspace_slug: value,
          scope: fc.oneof(
            fc.array(scope, { maxLength: 5 }).map((list) => list.join(' ')),
            value,
          ),
          scopes: fc.oneof(fc.array(fc.oneof(scope, odd), { maxLength: 5 }), value),
          email_id: value,
          sub: value,
          uid: value,
          jti: value,
          exp,
          defaults: fc.oneof(
            fc.record(
              { config_id: value, metadata: fc.oneof(fc.dictionary(fc.string({ maxLength: 5 }), value), value) },
              { requiredKeys: [] },
            ),
            value,
          ),
          rate_limits: fc.oneof(
            fc.array(fc.oneof(fc.record({ type: value, unit: value, value: fc.oneof(fc.integer(), value) }), odd), {
              maxLength: 3,
            }),
            value,
          ),
          usage_limits: value,
        },
        { requiredKeys: [] },
      ),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
      fc.boolean(),
    )
    // Half the time as jose hands them over: parsed from JSON.
    .map(([known, extra, viaJson]) => {
      const all = { ...extra, ...known }
      return (viaJson ? JSON.parse(JSON.stringify(all)) : all) as JWTPayload
    })

  const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v !== ''
  const rawScopes = (input: JWTPayload): unknown[] =>
    typeof input.scope === 'string' ? input.scope.split(' ') : Array.isArray(input.scopes) ? input.scopes : []

  test('either a frozen context (string organisationId, string scopes without the portkey. prefix) or a ClaimsError', () => {
    const seen = { context: 0, claimsError: 0 }
    fc.assert(
      fc.property(claims, (input) => {
        const result = outcome(() => claimsToAuth(input, 'jwt_fallback'))
        seen['error' in result ? 'claimsError' : 'context']++
        const organisation = nonEmpty(input.portkey_oid)
          ? input.portkey_oid
          : nonEmpty(input.organisation_id)
            ? input.organisation_id
            : null
        const badExp = typeof input.exp === 'number' && Number.isNaN(new Date(input.exp * 1000).getTime())
        if ('error' in result) {
          expect(result.error).toBeInstanceOf(ClaimsError)
          expect(organisation === null || badExp).toBe(true)
          return
        }
        expect(organisation !== null && !badExp).toBe(true)
        const auth = result.value
        expect(Object.isFrozen(auth)).toBe(true)
        expect(auth.method).toBe('jwt')
        expect(auth.organisationId).toBe(organisation)
        expect(nonEmpty(auth.keyId)).toBe(true)
        expect(auth.workspaceId === null || nonEmpty(auth.workspaceId)).toBe(true)
        expect(auth.userId === null || nonEmpty(auth.userId)).toBe(true)
        expect(auth.expiresAt === null || !Number.isNaN(auth.expiresAt.getTime())).toBe(true)
        expect(Object.isFrozen(auth.scopes) && Array.isArray(auth.scopes)).toBe(true)
        expect(new Set(auth.scopes).size).toBe(auth.scopes.length)
        const raw = rawScopes(input)
        for (const granted of auth.scopes) {
          expect(nonEmpty(granted)).toBe(true)
          // Granted as written or with its one leading portkey. prefix removed; a scope still starting with
          // portkey. was written with the prefix twice (only the leading one is removed, by design).
          expect(raw.includes(granted) || raw.includes(`portkey.${granted}`)).toBe(true)
          if (granted.startsWith('portkey.')) expect(raw).toContain(`portkey.${granted}`)
        }
        expect(
          Object.isFrozen(auth.defaults) && Object.isFrozen(auth.defaults.metadata) && Object.isFrozen(auth.rateLimits),
        ).toBe(true)
        expect(Object.values(auth.defaults.metadata).every((entry) => typeof entry === 'string')).toBe(true)
      }),
      { numRuns: 2_000 },
    )
    expect(Math.min(seen.context, seen.claimsError)).toBeGreaterThan(100)
  })
})
