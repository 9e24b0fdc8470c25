import { describe, expect, test } from 'vitest'
import type { AuthErrorCode } from '../../src/errors.js'
import { isKeyRecord, recordOutcome, stringMap } from '../../src/credential/key-record.js'
import { apiKeyIdentity, identityOf } from '../../src/identity.js'
import type { Outcome } from '../../src/records.js'
import type { KeyRecord, PortkeyAuth } from '../../src/types.js'
import { keyRecord } from '../../src/testing/records.js'

const NOW = Date.parse('2030-06-01T12:00:00.000Z')

function admitted(outcome: Outcome<PortkeyAuth>): PortkeyAuth {
  return admission(outcome).value
}

function admission(outcome: Outcome<PortkeyAuth>): { value: PortkeyAuth; expiresAtMs: number } {
  if (outcome.value === undefined) throw new Error(`expected an admission, got ${outcome.reject().code}`)
  return outcome
}

function rejection(outcome: Outcome<PortkeyAuth>): { code: AuthErrorCode; status: number } {
  if (outcome.reject === undefined) throw new Error('expected a rejection')
  const error = outcome.reject()
  return { code: error.code, status: error.status }
}

describe('isKeyRecord', () => {
  test('accepts the smallest record and a full one', () => {
    expect(isKeyRecord({ id: 'key_1', organisation_id: 'org_1', scopes: [] })).toBe(true)
    expect(isKeyRecord(keyRecord({ expires_at: '2031-01-01T00:00:00Z' }))).toBe(true)
  })

  test.each<[string, unknown]>([
    ['null', null],
    ['undefined', undefined],
    ['a string', '{"id":"key_1"}'],
    ['a number', 42],
    ['an array', [{ id: 'key_1', organisation_id: 'org_1', scopes: [] }]],
    ['an empty object', {}],
    ['no id', { organisation_id: 'org_1', scopes: [] }],
    ['an empty id', { id: '', organisation_id: 'org_1', scopes: [] }],
    ['a numeric id', { id: 1, organisation_id: 'org_1', scopes: [] }],
    ['no organisation_id', { id: 'key_1', scopes: [] }],
    ['an empty organisation_id', { id: 'key_1', organisation_id: '', scopes: [] }],
    ['no scopes', { id: 'key_1', organisation_id: 'org_1' }],
    ['scopes as a string', { id: 'key_1', organisation_id: 'org_1', scopes: 'completions.write' }],
    ['a non-string scope', { id: 'key_1', organisation_id: 'org_1', scopes: ['completions.write', 7] }],
    ['an unparseable expires_at', { id: 'key_1', organisation_id: 'org_1', scopes: [], expires_at: 'next tuesday' }],
    ['a wrapped record', { data: { id: 'key_1', organisation_id: 'org_1', scopes: [] } }],
  ])('refuses %s', (_name, value) => {
    expect(isKeyRecord(value)).toBe(false)
  })

  // Issue 11, item 10: every field the context exposes is type-checked, over an otherwise valid record.
  test.each<[string, Record<string, unknown>]>([
    ['id an object', { id: { id: 'key_1' } }],
    ['organisation_id a number', { organisation_id: 1 }],
    ['organisation_id null', { organisation_id: null }],
    ['workspace_id an object', { workspace_id: { id: 'ws_1' } }],
    ['workspace_id an object with a toString field', { workspace_id: { toString: 'ws_1' } }],
    ['workspace_id a number', { workspace_id: 7 }],
    ['workspace_id an array', { workspace_id: ['ws_1'] }],
    ['workspace_id false', { workspace_id: false }],
    ['user_id a number', { user_id: 42 }],
    ['user_id an object', { user_id: { email: 'a@b.c' } }],
    ['type a number', { type: 1 }],
    ['type an object', { type: { kind: 'workspace-service' } }],
    ['name a number', { name: 5 }],
    ['status null (not active: unusable)', { status: null }],
    ['status a number', { status: 1 }],
    ['status true', { status: true }],
    ['status an object', { status: { value: 'active' } }],
    ['scopes null', { scopes: null }],
    ['scopes an object', { scopes: { 0: 'completions.write' } }],
    ['defaults a string', { defaults: 'pc-1' }],
    ['defaults a number', { defaults: 1 }],
    ['defaults an array', { defaults: [] }],
    ['defaults.config_id a number', { defaults: { config_id: 5 } }],
    ['defaults.config_id an object', { defaults: { config_id: { id: 'pc-1' } } }],
    ['defaults.metadata a string', { defaults: { metadata: 'team=search' } }],
    ['defaults.metadata an array', { defaults: { metadata: ['team'] } }],
    ['defaults.metadata a number', { defaults: { metadata: 3 } }],
    ['rate_limits an object', { rate_limits: { type: 'requests', unit: 'rpm', value: 1 } }],
    ['rate_limits a string', { rate_limits: 'rpm' }],
    ['rate_limits a number', { rate_limits: 100 }],
    ['usage_limits a string', { usage_limits: 'lots' }],
    ['usage_limits a number', { usage_limits: 50 }],
    ['usage_limits an array', { usage_limits: [{ credit_limit: 1 }] }],
    ['expires_at a number', { expires_at: 4_102_444_800_000 }],
    ['expires_at a small number (Date.parse would read it as a year)', { expires_at: 2100 }],
    ['expires_at an object', { expires_at: { date: '2100-01-01' } }],
    ['expires_at true', { expires_at: true }],
    ['expires_at an empty string', { expires_at: '' }],
  ])('refuses a record with %s', (_name, fields) => {
    expect(isKeyRecord({ ...keyRecord(), ...fields })).toBe(false)
  })

  test.each<[string, Record<string, unknown>]>([
    ['workspace_id and user_id null', { workspace_id: null, user_id: null }],
    ['workspace_id and user_id empty', { workspace_id: '', user_id: '' }],
    [
      'workspace_id, user_id, type, name, status absent',
      { workspace_id: undefined, user_id: undefined, type: undefined, name: undefined, status: undefined },
    ],
    ['an unknown type and status (strings)', { type: 'admin', status: 'suspended' }],
    ['type and name null (the type is then inferred)', { type: null, name: null }],
    ['defaults null', { defaults: null }],
    ['defaults empty', { defaults: {} }],
    ['defaults with null config_id and metadata', { defaults: { config_id: null, metadata: null } }],
    ['metadata with non-string values (dropped later)', { defaults: { config_id: 'pc-1', metadata: { a: 'b', n: 1 } } }],
    ['rate_limits and usage_limits null', { rate_limits: null, usage_limits: null }],
    ['rate_limits with odd entries (dropped later)', { rate_limits: [{ type: 'requests', unit: 'rpm', value: 1 }, 'rpm'] }],
    ['usage_limits an object', { usage_limits: { credit_limit: 10, type: 'cost' } }],
  ])('accepts a record with %s', (_name, fields) => {
    expect(isKeyRecord({ ...keyRecord(), ...fields })).toBe(true)
  })

  test('a null or missing expires_at is fine', () => {
    expect(isKeyRecord({ id: 'k', organisation_id: 'o', scopes: [], expires_at: null })).toBe(true)
    expect(isKeyRecord({ id: 'k', organisation_id: 'o', scopes: [], expires_at: undefined })).toBe(true)
  })
})

describe('recordOutcome: status', () => {
  test.each<[string, Partial<KeyRecord>, AuthErrorCode, number]>([
    ['exhausted', { status: 'exhausted' }, 'usage_limit_exceeded', 412],
    ['expired', { status: 'expired' }, 'expired_api_key', 401],
    ['archived', { status: 'archived' }, 'invalid_api_key', 401],
    ['an unknown status', { status: 'suspended' }, 'invalid_api_key', 401],
    ['an upper-case ACTIVE', { status: 'ACTIVE' }, 'invalid_api_key', 401],
    ['an empty status', { status: '' }, 'invalid_api_key', 401],
    // isKeyRecord refuses it first; should one get here anyway, null is not active.
    ['a null status', { status: null as unknown as string }, 'invalid_api_key', 401],
    ['active with a past expires_at', { status: 'active', expires_at: '2030-06-01T11:59:59.999Z' }, 'expired_api_key', 401],
    ['active with expires_at exactly now', { status: 'active', expires_at: '2030-06-01T12:00:00.000Z' }, 'expired_api_key', 401],
    ['exhausted with a past expires_at', { status: 'exhausted', expires_at: '2020-01-01T00:00:00Z' }, 'expired_api_key', 401],
    ['archived with a past expires_at', { status: 'archived', expires_at: '2020-01-01T00:00:00Z' }, 'expired_api_key', 401],
  ])('%s is rejected', (_name, fields, code, status) => {
    expect(rejection(recordOutcome(keyRecord(fields), NOW))).toEqual({ code, status })
  })

  test('every call of reject() builds a new error', () => {
    const outcome = recordOutcome(keyRecord({ status: 'archived' }), NOW)
    expect(outcome.reject?.()).not.toBe(outcome.reject?.())
  })

  test('active passes, and so does a record with no status', () => {
    expect(admitted(recordOutcome(keyRecord({ status: 'active' }), NOW)).method).toBe('api_key')
    const { status: _status, ...noStatus } = keyRecord()
    expect(admitted(recordOutcome(noStatus, NOW)).method).toBe('api_key')
  })

  test('a future expires_at passes, and is kept as a Date and as a deadline', () => {
    const outcome = admission(recordOutcome(keyRecord({ expires_at: '2030-06-01T12:00:00.001Z' }), NOW))
    expect(outcome.value.expiresAt).toEqual(new Date('2030-06-01T12:00:00.001Z'))
    expect(outcome.expiresAtMs).toBe(NOW + 1)
  })

  test('no expires_at never expires', () => {
    const outcome = admission(recordOutcome(keyRecord({ expires_at: null }), NOW))
    expect(outcome.value.expiresAt).toBeNull()
    expect(outcome.expiresAtMs).toBe(Number.POSITIVE_INFINITY)
  })
})

describe('recordOutcome: the context', () => {
  test('maps a full record', () => {
    const record = keyRecord({
      id: 'key_abc',
      type: 'workspace-user',
      organisation_id: 'org_1',
      workspace_id: 'ws_1',
      user_id: 'user_1',
      scopes: ['completions.write', 'logs.read'],
      defaults: { config_id: 'pc-default', metadata: { team: 'search', env: 'prod' } },
      rate_limits: [{ type: 'requests', unit: 'rpm', value: 100 }],
      usage_limits: { credit_limit: 50, type: 'cost', alert_threshold: 40 },
      expires_at: '2031-01-01T00:00:00.000Z',
    })
    expect(admitted(recordOutcome(record, NOW))).toEqual({
      method: 'api_key',
      keyId: 'key_abc',
      keyType: 'workspace-user',
      organisationId: 'org_1',
      workspaceId: 'ws_1',
      userId: 'user_1',
      scopes: ['completions.write', 'logs.read'],
      virtualKey: null,
      defaults: { configId: 'pc-default', metadata: { team: 'search', env: 'prod' } },
      rateLimits: [{ type: 'requests', unit: 'rpm', value: 100 }],
      usageLimits: { credit_limit: 50, type: 'cost', alert_threshold: 40 },
      expiresAt: new Date('2031-01-01T00:00:00.000Z'),
    })
  })

  test('maps the smallest record with nulls and empties', () => {
    expect(admitted(recordOutcome({ id: 'key_1', organisation_id: 'org_1', scopes: [] }, NOW))).toEqual({
      method: 'api_key',
      keyId: 'key_1',
      keyType: 'organisation-service',
      organisationId: 'org_1',
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

  test.each<[string, Partial<KeyRecord>, PortkeyAuth['keyType']]>([
    ['a known type is kept', { type: 'organisation-service', workspace_id: 'ws_1', user_id: 'u_1' }, 'organisation-service'],
    ['no workspace: organisation-service', { type: undefined, workspace_id: null, user_id: null }, 'organisation-service'],
    ['an empty workspace: organisation-service', { type: undefined, workspace_id: '', user_id: 'u_1' }, 'organisation-service'],
    ['a workspace, no user: workspace-service', { type: undefined, workspace_id: 'ws_1', user_id: null }, 'workspace-service'],
    [
      'a workspace and an empty user: workspace-service',
      { type: undefined, workspace_id: 'ws_1', user_id: '' },
      'workspace-service',
    ],
    ['a workspace and a user: workspace-user', { type: undefined, workspace_id: 'ws_1', user_id: 'u_1' }, 'workspace-user'],
    ['an unknown type is inferred', { type: 'admin', workspace_id: 'ws_1', user_id: 'u_1' }, 'workspace-user'],
    ['a mis-cased type is inferred', { type: 'Workspace-Service', workspace_id: null }, 'organisation-service'],
  ])('key type: %s', (_name, fields, expected) => {
    expect(admitted(recordOutcome(keyRecord(fields), NOW)).keyType).toBe(expected)
  })

  test('empty workspace and user ids become null', () => {
    const auth = admitted(recordOutcome(keyRecord({ workspace_id: '', user_id: '' }), NOW))
    expect(auth.workspaceId).toBeNull()
    expect(auth.userId).toBeNull()
  })

  test('the context, its scopes, defaults, metadata and limits are frozen', () => {
    const auth = admitted(
      recordOutcome(
        keyRecord({
          defaults: { config_id: 'pc-1', metadata: { a: 'b' } },
          rate_limits: [{ type: 'tokens', unit: 'rpd', value: 5 }],
          usage_limits: { credit_limit: 1 },
        }),
        NOW,
      ),
    )
    expect(Object.isFrozen(auth)).toBe(true)
    expect(Object.isFrozen(auth.scopes)).toBe(true)
    expect(Object.isFrozen(auth.defaults)).toBe(true)
    expect(Object.isFrozen(auth.defaults.metadata)).toBe(true)
    expect(Object.isFrozen(auth.rateLimits)).toBe(true)
    expect(Object.isFrozen(auth.rateLimits[0])).toBe(true)
    expect(Object.isFrozen(auth.usageLimits)).toBe(true)
    expect(() => {
      ;(auth as { keyId: string }).keyId = 'other'
    }).toThrow(TypeError)
    expect(() => (auth.scopes as string[]).push('admin.all')).toThrow(TypeError)
  })

  test('the context does not share arrays or objects with the record', () => {
    const record = keyRecord({
      scopes: ['completions.write'],
      defaults: { config_id: null, metadata: { a: 'b' } },
      usage_limits: { credit_limit: 1 },
    })
    const auth = admitted(recordOutcome(record, NOW))
    record.scopes.push('workspaces.create')
    record.defaults!.metadata!.a = 'changed'
    ;(record.usage_limits as { credit_limit: number }).credit_limit = 999
    expect(auth.scopes).toEqual(['completions.write'])
    expect(auth.defaults.metadata).toEqual({ a: 'b' })
    expect(auth.usageLimits).toEqual({ credit_limit: 1 })
  })

  test('metadata keeps string values only', () => {
    const metadata = { team: 'search', count: 3, flag: true, nested: { a: 'b' }, nothing: null, empty: '' } as unknown as Record<
      string,
      string
    >
    const auth = admitted(recordOutcome(keyRecord({ defaults: { config_id: null, metadata } }), NOW))
    expect(auth.defaults.metadata).toEqual({ team: 'search', empty: '' })
  })

  test.each<[string, unknown]>([
    ['no defaults', undefined],
    ['null defaults', null],
    ['defaults without metadata', { config_id: 'pc-x' }],
    ['null metadata', { metadata: null }],
    ['metadata as a string', { metadata: 'team=search' }],
  ])('metadata is an empty frozen map with %s', (_name, defaults) => {
    const auth = admitted(recordOutcome(keyRecord({ defaults: defaults as KeyRecord['defaults'] }), NOW))
    expect(auth.defaults.metadata).toEqual({})
    expect(Object.isFrozen(auth.defaults.metadata)).toBe(true)
  })

  test('an empty config_id is null', () => {
    expect(admitted(recordOutcome(keyRecord({ defaults: { config_id: '' } }), NOW)).defaults.configId).toBeNull()
  })

  test('rate limits keep well-formed entries only, with their three fields', () => {
    const limits = [
      { type: 'requests', unit: 'rpm', value: 100, extra: 'dropped' },
      { type: 'tokens', unit: 'rpd', value: '5000' },
      { type: 'tokens', value: 10 },
      null,
      'rpm:100',
      { type: 'tokens', unit: 'rph', value: 0 },
    ] as unknown as KeyRecord['rate_limits']
    const auth = admitted(recordOutcome(keyRecord({ rate_limits: limits }), NOW))
    expect(auth.rateLimits).toEqual([
      { type: 'requests', unit: 'rpm', value: 100 },
      { type: 'tokens', unit: 'rph', value: 0 },
    ])
    expect(auth.rateLimits[0]).not.toHaveProperty('extra')
  })

  test.each<[string, unknown]>([
    ['null', null],
    ['an object', { type: 'requests', unit: 'rpm', value: 1 }],
    ['a string', 'rpm'],
  ])('rate limits given as %s are an empty list', (_name, value) => {
    const auth = admitted(recordOutcome(keyRecord({ rate_limits: value as KeyRecord['rate_limits'] }), NOW))
    expect(auth.rateLimits).toEqual([])
  })

  test('usage limits that are not an object are null', () => {
    expect(admitted(recordOutcome(keyRecord({ usage_limits: 'lots' as unknown as null }), NOW)).usageLimits).toBeNull()
    expect(admitted(recordOutcome(keyRecord({ usage_limits: null }), NOW)).usageLimits).toBeNull()
  })

  test('the context never holds the raw key nor fields outside the contract', () => {
    const rawKey = 'pk-live-RAW-SECRET-0123456789'
    const record = { ...keyRecord({ name: rawKey }), key: rawKey, api_key: rawKey } as KeyRecord
    const auth = admitted(recordOutcome(record, NOW))
    expect(JSON.stringify(auth)).not.toContain(rawKey)
    expect(Object.keys(auth).sort()).toEqual(
      [
        'defaults',
        'expiresAt',
        'keyId',
        'keyType',
        'method',
        'organisationId',
        'rateLimits',
        'scopes',
        'usageLimits',
        'userId',
        'virtualKey',
        'workspaceId',
      ].sort(),
    )
  })
})

describe('stringMap', () => {
  test('is frozen even when empty', () => {
    expect(Object.isFrozen(stringMap(undefined))).toBe(true)
  })
})

describe('recordOutcome: the identity', () => {
  test("an API key's identity is its organisation and key id, made from the context on first use and kept", () => {
    const auth = admitted(recordOutcome(keyRecord({ id: 'key_a', organisation_id: 'org_a' }), NOW))
    // Nothing of the identity rides on the context itself (a cached key that never needs it carries none).
    expect(Object.getOwnPropertySymbols(auth)).toEqual([])
    const identity = identityOf(auth)
    expect(identity).toEqual(apiKeyIdentity('org_a', 'key_a'))
    expect(identity.caller).toEqual(['key', 'org_a', 'key_a'])
    expect(identityOf(auth)).toBe(identity)
    // Another organisation's key of the same id is another caller.
    const other = admitted(recordOutcome(keyRecord({ id: 'key_a', organisation_id: 'org_b' }), NOW))
    expect(identityOf(other).name).not.toBe(identity.name)
  })
})
