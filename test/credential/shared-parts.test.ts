import { describe, expect, test } from 'vitest'
import { recordOutcome } from '../../src/credential/key-record.js'
import { sharedDefaults, sharedScopes } from '../../src/credential/shared-parts.js'
import { keyRecord } from '../../src/testing/records.js'
import type { KeyRecord, PortkeyAuth } from '../../src/types.js'

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
