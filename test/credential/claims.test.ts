import type { JWTPayload } from 'jose'
import { describe, expect, test } from 'vitest'
import { claimsToAuth } from '../../src/credential/claims.js'
import { identityOf, userKeyId } from '../../src/identity.js'
import { ClaimsError } from '../../src/errors.js'

const FALLBACK = 'jwt_fallback0000000'
const ORG = { portkey_oid: 'org_1' }
const keyIdOf = (claims: JWTPayload) => claimsToAuth({ ...ORG, iss: 'https://idp.example/', ...claims }, FALLBACK).keyId

describe('claimsToAuth: organisation and workspace', () => {
  test.each([
    ['portkey_oid', { portkey_oid: 'org_a' }, 'org_a'],
    ['organisation_id', { organisation_id: 'org_b' }, 'org_b'],
    ['portkey_oid over organisation_id', { portkey_oid: 'org_a', organisation_id: 'org_b' }, 'org_a'],
    ['organisation_id when portkey_oid is empty', { portkey_oid: '', organisation_id: 'org_b' }, 'org_b'],
  ])('organisation from %s', (_name, claims, organisationId) => {
    expect(claimsToAuth(claims, FALLBACK).organisationId).toBe(organisationId)
  })

  test.each([
    ['no organisation claim', {}],
    ['empty portkey_oid', { portkey_oid: '' }],
    ['a non-string organisation', { portkey_oid: 42, organisation_id: ['org_1'] }],
    ['only a workspace', { portkey_workspace: 'ws_1', sub: 'user_1' }],
  ])('%s: ClaimsError', (_name, claims) => {
    expect(() => claimsToAuth(claims as JWTPayload, FALLBACK)).toThrow(ClaimsError)
    expect(() => claimsToAuth(claims as JWTPayload, FALLBACK)).toThrow(/portkey_oid or organisation_id/)
  })

  test.each([
    ['portkey_workspace', { portkey_workspace: 'ws_a' }, 'ws_a'],
    ['workspace_slug', { workspace_slug: 'ws_b' }, 'ws_b'],
    ['portkey_workspace over workspace_slug', { portkey_workspace: 'ws_a', workspace_slug: 'ws_b' }, 'ws_a'],
    ['no workspace claim', {}, null],
    ['a non-string workspace', { portkey_workspace: 7 }, null],
  ])('workspace from %s', (_name, claims, workspaceId) => {
    expect(claimsToAuth({ ...ORG, ...claims }, FALLBACK).workspaceId).toBe(workspaceId)
  })
})

describe('claimsToAuth: scopes', () => {
  test.each([
    ['a scope string without prefixes', { scope: 'completions.write logs.read' }, ['completions.write', 'logs.read']],
    [
      'a scope string with portkey. prefixes',
      { scope: 'portkey.completions.write portkey.logs.read' },
      ['completions.write', 'logs.read'],
    ],
    [
      'a scope string, mixed, with extra spaces',
      { scope: ' portkey.completions.write  logs.read ' },
      ['completions.write', 'logs.read'],
    ],
    [
      'a scopes array with prefixes',
      { scopes: ['portkey.completions.write', 'portkey.virtual_keys.list'] },
      ['completions.write', 'virtual_keys.list'],
    ],
    [
      'a scopes array, non-strings dropped',
      { scopes: ['logs.read', 3, null, '', 'portkey.logs.write'] },
      ['logs.read', 'logs.write'],
    ],
    [
      'duplicates, with and without prefix',
      { scope: 'portkey.logs.read logs.read portkey.logs.read mcp.invoke' },
      ['logs.read', 'mcp.invoke'],
    ],
    ['duplicates in an array', { scopes: ['logs.read', 'portkey.logs.read', 'logs.read'] }, ['logs.read']],
    ['scope before scopes', { scope: 'logs.read', scopes: ['logs.write'] }, ['logs.read']],
    ['only the leading prefix removed', { scope: 'portkey.portkey.logs.read' }, ['portkey.logs.read']],
    ['no scope claim', {}, []],
    ['a bare portkey. is no scope (not an empty one)', { scope: 'portkey. portkey.completions.write' }, ['completions.write']],
    ['a bare portkey. in an array', { scopes: ['portkey.', 'logs.read'] }, ['logs.read']],
  ])('%s', (_name, claims, scopes) => {
    const auth = claimsToAuth({ ...ORG, ...claims } as JWTPayload, FALLBACK)
    expect(auth.scopes).toEqual(scopes)
    expect(Object.isFrozen(auth.scopes)).toBe(true)
  })
})

describe('claimsToAuth: user and key id', () => {
  test.each([
    ['email_id first', { email_id: 'a@example.com', sub: 'sub_1', uid: 'uid_1' }, 'a@example.com'],
    ['then sub', { sub: 'sub_1', uid: 'uid_1' }, 'sub_1'],
    ['then uid', { uid: 'uid_1' }, 'uid_1'],
    ['sub when email_id is empty', { email_id: '', sub: 'sub_1' }, 'sub_1'],
    ['none', {}, null],
  ])('userId: %s', (_name, claims, userId) => {
    expect(claimsToAuth({ ...ORG, ...claims }, FALLBACK).userId).toBe(userId)
  })

  test.each([
    ['jti first', { jti: 'jti_1', sub: 'sub_1' }, 'jti_1'],
    ['the fallback with no jti and no user claim', {}, FALLBACK],
  ])('keyId: %s', (_name, claims, keyId) => {
    expect(claimsToAuth({ ...ORG, ...claims }, FALLBACK).keyId).toBe(keyId)
  })

  test.each([
    ['sub', { sub: 'alice@example.com' }],
    ['uid', { uid: 'alice@example.com' }],
    ['email_id', { email_id: 'alice@example.com' }],
  ])('keyId without jti: a pseudonym of the user from %s, never the claim itself', (_name, claims) => {
    const keyId = keyIdOf(claims)
    expect(keyId).toMatch(/^jwt_[A-Za-z0-9_-]{16}$/)
    expect(keyId).not.toContain('alice')
    expect(keyIdOf({ ...claims, iat: 1, exp: 2 })).toBe(keyId)
    expect(keyIdOf({ ...claims, portkey_oid: 'org_2' })).not.toBe(keyId)
    expect(keyIdOf({ ...claims, iss: 'https://other-idp.example/' })).not.toBe(keyId)
  })

  test('keyId without jti: sub wins over uid and email_id; the same value in another claim is another user', () => {
    expect(keyIdOf({ sub: 's', uid: 'u', email_id: 'e' })).toBe(keyIdOf({ sub: 's' }))
    expect(keyIdOf({ uid: 'u', email_id: 'e' })).toBe(keyIdOf({ uid: 'u' }))
    expect(keyIdOf({ uid: 'x' })).not.toBe(keyIdOf({ sub: 'x' }))
  })
})

describe('claimsToAuth: identity (what counters and virtual-key answers are keyed by)', () => {
  const identity = (claims: JWTPayload) => identityOf(claimsToAuth({ iss: 'https://idp.example/', ...claims }, FALLBACK))

  test('the kind, issuer and organisation, then the user, whatever the jti', () => {
    const { tenant, caller, name, counted } = identity({ portkey_oid: 'org_1', sub: 'u', jti: 'tok_1' })
    expect(tenant).toEqual(['jwt', 'https://idp.example/', 'org_1'])
    // The fleet's own id of the user (counters, Redis keys): stable across processes, never shown as keyId.
    expect(caller).toEqual([...tenant, userKeyId({ sub: 'u' }, 'https://idp.example/', 'org_1')])
    expect(caller.at(-1)).not.toBe(keyIdOf({ sub: 'u' }))
    expect(name).toBe(JSON.stringify(caller))
    expect(counted).toBe('user')
    expect(identity({ portkey_oid: 'org_1', sub: 'u', jti: 'tok_2' })).toEqual(
      identity({ portkey_oid: 'org_1', sub: 'u', jti: 'tok_1' }),
    )
  })

  test('a token naming no user is counted alone: by its jti, else its fingerprint', () => {
    expect(identity({ portkey_oid: 'org_1', jti: 'tok_1' })).toMatchObject({
      caller: ['jwt', 'https://idp.example/', 'org_1', 'tok_1'],
      counted: 'token',
    })
    expect(identity({ portkey_oid: 'org_1' })).toMatchObject({
      caller: ['jwt', 'https://idp.example/', 'org_1', FALLBACK],
      counted: 'token',
    })
  })

  test('a token with no iss: the issuer part is empty, never missing', () => {
    expect(identityOf(claimsToAuth({ portkey_oid: 'org_1', sub: 'u' }, FALLBACK)).tenant).toEqual(['jwt', '', 'org_1'])
  })

  test('out of sight: not enumerated, so neither serialised nor compared', () => {
    const auth = claimsToAuth({ portkey_oid: 'org_1', sub: 'u', jti: 'tok_1', iss: 'https://idp.example/' }, FALLBACK)
    expect(
      Reflect.ownKeys(auth).filter((key) => typeof key === 'symbol' && Object.prototype.propertyIsEnumerable.call(auth, key)),
    ).toEqual([])
    expect(identityOf(auth).tenant).toContain('https://idp.example/')
    expect(JSON.stringify(auth)).not.toContain('idp.example')
    expect({ ...auth }).toStrictEqual(JSON.parse(JSON.stringify({ ...auth, expiresAt: null })))
  })
})

describe('claimsToAuth: the whole context', () => {
  test('every field from a full set of claims, frozen', () => {
    const exp = 1_900_000_000
    const auth = claimsToAuth(
      {
        organisation_id: 'org_full',
        workspace_slug: 'ws_full',
        scopes: ['portkey.completions.write', 'logs.read'],
        email_id: 'alice@example.com',
        sub: 'user_alice',
        jti: 'tok_123',
        exp,
        defaults: { config_id: 'pc-default', metadata: { team: 'search', count: 3 } },
        rate_limits: [{ type: 'requests', unit: 'rpm', value: 60 }, { type: 'tokens' }],
        usage_limits: { credit_limit: 10, type: 'cost', periodic_reset: 'monthly' },
      },
      FALLBACK,
    )
    expect(auth).toStrictEqual({
      method: 'jwt',
      keyId: 'tok_123',
      keyType: 'workspace-user',
      organisationId: 'org_full',
      workspaceId: 'ws_full',
      userId: 'alice@example.com',
      scopes: ['completions.write', 'logs.read'],
      virtualKey: null,
      defaults: { configId: 'pc-default', metadata: { team: 'search' } },
      rateLimits: [{ type: 'requests', unit: 'rpm', value: 60 }],
      usageLimits: { credit_limit: 10, type: 'cost', periodic_reset: 'monthly' },
      expiresAt: new Date(exp * 1000),
    })
    expect(Object.isFrozen(auth)).toBe(true)
    expect(Object.isFrozen(auth.defaults)).toBe(true)
    expect(Object.isFrozen(auth.defaults.metadata)).toBe(true)
    expect(Object.isFrozen(auth.rateLimits)).toBe(true)
    expect(Object.isFrozen(auth.usageLimits)).toBe(true)
    expect(() => {
      ;(auth as { organisationId: string }).organisationId = 'org_other'
    }).toThrow(TypeError)
  })

  test('minimal claims: empty defaults, no limits, no expiry', () => {
    expect(claimsToAuth({ portkey_oid: 'org_min' }, FALLBACK)).toStrictEqual({
      method: 'jwt',
      keyId: FALLBACK,
      keyType: 'workspace-user',
      organisationId: 'org_min',
      workspaceId: null,
      userId: null,
      scopes: [],
      virtualKey: null,
      defaults: { configId: null, metadata: {} },
      rateLimits: [],
      usageLimits: null,
      expiresAt: null,
    })
  })

  test.each([
    ['a string defaults claim', { defaults: 'pc-1' }],
    ['a null defaults claim', { defaults: null }],
  ])('%s gives empty defaults', (_name, claims) => {
    expect(claimsToAuth({ ...ORG, ...claims } as JWTPayload, FALLBACK).defaults).toEqual({ configId: null, metadata: {} })
  })

  test('usage_limits is a copy: changing the claims afterwards does not change the context', () => {
    const claims = { ...ORG, usage_limits: { credit_limit: 5 } }
    const auth = claimsToAuth(claims, FALLBACK)
    claims.usage_limits.credit_limit = 500
    expect(auth.usageLimits).toEqual({ credit_limit: 5 })
  })

  test.each([
    ['a number', 1_800_000_000, new Date(1_800_000_000_000)],
    ['a string', '1800000000', null],
    ['absent', undefined, null],
  ])('expiresAt from exp as %s', (_name, exp, expiresAt) => {
    expect(claimsToAuth({ ...ORG, exp } as JWTPayload, FALLBACK).expiresAt).toEqual(expiresAt)
  })
})
