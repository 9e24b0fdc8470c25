import { describe, expect, test } from 'vitest'
import { claimsToAuth } from '../../src/credential/claims.js'
import { recordOutcome } from '../../src/credential/key-record.js'
import { sharedDefaults, sharedScopes } from '../../src/credential/shared-parts.js'
import { keyRecord } from '../../src/testing/records.js'
import type { KeyRecord, PortkeyAuth } from '../../src/types.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'
import { withKey } from '../support/core-helpers.js'

// Contexts share the frozen parts many keys have alike (src/credential/shared-parts.ts): what two keys could
// observe of each other through them, and what must stay their own.

const contextOf = (fields: Partial<KeyRecord>): PortkeyAuth => {
  const outcome = recordOutcome(keyRecord(fields), Date.now())
  if (outcome.value === undefined) throw new Error('refused')
  return outcome.value
}

describe('shared parts of contexts', () => {
  test('two keys with the same scopes hold one frozen list; another order or another scope, another list', () => {
    const a = contextOf({ scopes: ['completions.write', 'logs.read'] })
    const b = contextOf({ scopes: ['completions.write', 'logs.read'] })
    expect(b.scopes).toBe(a.scopes)
    expect(Object.isFrozen(a.scopes)).toBe(true)
    expect(() => (a.scopes as string[]).push('admin')).toThrow(TypeError)
    expect(contextOf({ scopes: ['logs.read', 'completions.write'] }).scopes).not.toBe(a.scopes)
    expect(contextOf({ scopes: ['completions.write'] }).scopes).toEqual(['completions.write'])
  })

  test('a scope holding a comma or a quote is no other list joined differently', () => {
    expect(sharedScopes(['a,b'])).toEqual(['a,b'])
    expect(sharedScopes(['a', 'b'])).toEqual(['a', 'b'])
    expect(sharedScopes(['a"', 'b'])).not.toBe(sharedScopes(['a', '"b']))
  })

  test('defaults: none is shared; a config or metadata is each key’s own, frozen', () => {
    const none = contextOf({ defaults: { config_id: null, metadata: {} } })
    expect(contextOf({}).defaults).toBe(none.defaults)
    expect(none.defaults).toEqual({ configId: null, metadata: {} })
    const withMetadata = contextOf({ defaults: { config_id: null, metadata: { team: 'a' } } })
    expect(withMetadata.defaults).toEqual({ configId: null, metadata: { team: 'a' } })
    expect(contextOf({ defaults: { config_id: null, metadata: { team: 'b' } } }).defaults.metadata).toEqual({ team: 'b' })
    expect(contextOf({ defaults: { config_id: 'pc-1', metadata: {} } }).defaults).toEqual({ configId: 'pc-1', metadata: {} })
    expect(Object.isFrozen(withMetadata.defaults.metadata)).toBe(true)
    expect(Object.isFrozen(sharedDefaults('pc-2', {}))).toBe(true)
  })

  test('past 1,024 different lists, a new list is a copy of its own, still right and frozen', () => {
    for (let i = 0; i < 1_100; i++) sharedScopes([`scope-${i}`])
    const late = sharedScopes(['late.scope'])
    expect(late).toEqual(['late.scope'])
    expect(Object.isFrozen(late)).toBe(true)
    expect(sharedScopes(['late.scope'])).not.toBe(late)
  })

  test('no rate limits: one shared frozen empty list', () => {
    expect(contextOf({ rate_limits: [] }).rateLimits).toBe(contextOf({}).rateLimits)
    expect(Object.isFrozen(contextOf({}).rateLimits)).toBe(true)
  })
})

describe('attack: one key’s context, or app code, changing another’s through a shared part', () => {
  test('every way app code could write to a context’s shared parts throws, and no context changes', () => {
    const a = contextOf({ scopes: ['completions.write', 'logs.read'] })
    const b = contextOf({ scopes: ['completions.write', 'logs.read'] })
    // No defaults and no limits (the shared NO_DEFAULTS and NO_LIMITS); two scopes, so that sort() has work to do.
    const none = contextOf({ scopes: ['logs.read', 'completions.write'] })
    const writes: Array<(auth: PortkeyAuth) => unknown> = [
      (auth) => (auth.scopes as string[]).push('admin'),
      (auth) => {
        ;(auth.scopes as string[])[0] = 'admin'
      },
      (auth) => {
        ;(auth.scopes as string[]).length = 0
      },
      (auth) => (auth.scopes as string[]).sort(),
      (auth) => (auth.scopes as string[]).reverse(),
      (auth) => (auth.scopes as string[]).splice(0, 1, 'admin'),
      (auth) => Object.defineProperty(auth.scopes, 'includes', { value: () => true }),
      (auth) => Object.setPrototypeOf(auth.scopes, { includes: () => true }),
      (auth) => (auth.rateLimits as unknown[]).push({ type: 'requests', unit: 'rpm', value: 0 }),
      (auth) => {
        ;(auth.defaults as { configId: string | null }).configId = 'pc-evil'
      },
      (auth) => {
        ;(auth.defaults.metadata as Record<string, string>).team = 'evil'
      },
      (auth) => Object.defineProperty(auth.defaults.metadata, 'team', { value: 'evil', enumerable: true }),
    ]
    for (const write of writes) {
      expect(() => write(a)).toThrow(TypeError)
      expect(() => write(none)).toThrow(TypeError)
    }
    for (const auth of [a, b]) expect(auth.scopes).toEqual(['completions.write', 'logs.read'])
    expect(b.scopes.includes('admin')).toBe(false)
    expect(contextOf({}).rateLimits).toEqual([])
    expect(contextOf({}).defaults).toEqual({ configId: null, metadata: {} })
    expect(Object.keys(contextOf({}).defaults.metadata)).toEqual([])
  })

  test('a custom lookup that changes its record after answering changes no context, its own or another key’s', async () => {
    const shared = ['completions.write', 'logs.read']
    const metadata: Record<string, string> = { team: 'a' }
    const lookup = async (apiKey: string) =>
      keyRecord({ id: `id:${apiKey}`, scopes: shared, defaults: { config_id: null, metadata }, rate_limits: [] })
    const verifier = createVerifier({ lookup, logger: false })
    const first = await verifier.verify(withKey('pk-shared-parts-1'))
    shared.push('admin')
    shared[0] = 'evil'
    metadata.team = 'evil'
    const second = await verifier.verify(withKey('pk-shared-parts-2'))
    expect(first.scopes).toEqual(['completions.write', 'logs.read'])
    expect(first.defaults.metadata).toEqual({ team: 'a' })
    expect(second.scopes).toEqual(['evil', 'logs.read', 'admin'])
    expect(verifier.check(withKey('pk-shared-parts-1'))).toMatchObject({ scopes: ['completions.write', 'logs.read'] })
  })

  test('JWT scope claims with odd values: each list as given, none taken for another', () => {
    const scopesOf = (claims: Record<string, unknown>) => claimsToAuth({ portkey_oid: 'org', ...claims }, 'jwt_x').scopes
    // A lone surrogate, the text of its escape, and what UTF-8 would make of it: three lists.
    const lone = scopesOf({ scope: 'a\ud800' })
    const escaped = scopesOf({ scope: 'a\\ud800' })
    const replaced = scopesOf({ scope: 'a\ufffd' })
    expect([lone, escaped, replaced].map((list) => list[0])).toEqual(['a\ud800', 'a\\ud800', 'a\ufffd'])
    // Separators and JSON's own characters inside a scope: never another list's join.
    expect(scopesOf({ scopes: ['a","b'] })).toEqual(['a","b'])
    expect(scopesOf({ scopes: ['a', 'b'] })).toEqual(['a', 'b'])
    expect(scopesOf({ scopes: ['a,b'] })).toEqual(['a,b'])
    // Names an object has: plain scopes, not its members.
    expect(scopesOf({ scope: '__proto__ constructor toString' })).toEqual(['__proto__', 'constructor', 'toString'])
    expect(scopesOf({ scopes: [['nested'], { 0: 'x' }, 1, null, true] })).toEqual([])
    expect(Object.isFrozen(scopesOf({ scope: 'x y' }))).toBe(true)
  })
})
