import type { JWTPayload } from 'jose'
import { describe, expect, test } from 'vitest'
import { claimsToAuth } from '../../src/credential/claims.js'
import { ClaimsError } from '../../src/errors.js'

const FALLBACK = 'jwt_fallback0000000'
const ORG = { portkey_oid: 'org_1' }

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
    ['then sub', { sub: 'sub_1', uid: 'uid_1' }, 'sub_1'],
    ['not uid: the fallback', { uid: 'uid_1' }, FALLBACK],
    ['the fallback with neither', {}, FALLBACK],
  ])('keyId: %s', (_name, claims, keyId) => {
    expect(claimsToAuth({ ...ORG, ...claims }, FALLBACK).keyId).toBe(keyId)
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
      quota: null,
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
      quota: null,
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
