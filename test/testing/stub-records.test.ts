import { describe, expect, test } from 'vitest'
import { maskKey, parseStubRecords } from '../../src/testing/stub-records.js'

describe('maskKey: how portkey-auth-stub shows a raw key', () => {
  test('never the whole key nor half of it, at any length; the ends of a long key, to tell keys apart', () => {
    for (let length = 1; length <= 80; length++) {
      const key = Array.from({ length }, (_, i) => 'abcdefghijklmnopqrstuvwxyz0123456789'[(i * 7) % 36]).join('')
      const masked = maskKey(key)
      const shown = masked.replace('…', '')
      expect(masked).toContain('…')
      expect(shown.length).toBeLessThan(length / 2) // less than half: `abcdefgh` showed `ab…gh`
      expect(key.startsWith(masked.split('…')[0]!) && key.endsWith(masked.split('…')[1]!)).toBe(true)
    }
    expect(maskKey('pk-local-alice-7f3a9c2e')).toBe('pk-lo…9c2e')
    expect(maskKey('pk-0123456789abcdef0123456789abcdef')).toBe('pk-012…cdef')
    expect(maskKey('pk-test-1')).not.toBe(maskKey('pk-test-2'))
  })
})

describe('parseStubRecords: a file that is not JSON', () => {
  // The parser's own message quotes the text around the fault, which may be a raw key: only where it is.
  test('is named by position, quoting none of the file', () => {
    const text = '{ "keys": { "pk-local-secret-7f3a9c2e": { "id": "k" ,, } } }'
    expect(() => parseStubRecords(text)).toThrow(/^not JSON/)
    expect(() => parseStubRecords(text)).not.toThrow(/secret|7f3a/)
  })
})

describe('parseStubRecords', () => {
  test('keeps fields it does not check, fills a missing virtual-key slug, and ignores $ fields', () => {
    const records = parseStubRecords(
      JSON.stringify({
        $comment: 'ignored',
        keys: { 'pk-parse-1234': { id: 'k', organisation_id: 'o', scopes: [], created_at: '2024-01-01' } },
        virtualKeys: { 'openai-x': { ai_provider_name: 'openai' } },
      }),
    )
    expect(records).toStrictEqual({
      keys: { 'pk-parse-1234': { id: 'k', organisation_id: 'o', scopes: [], created_at: '2024-01-01' } },
      virtualKeys: { 'openai-x': { slug: 'openai-x', ai_provider_name: 'openai' } },
    })
  })

  test('a record the verifier would take for a garbled answer is refused, naming the field', () => {
    expect(() =>
      parseStubRecords('{"keys":{"pk-parse-1234":{"id":"k","organisation_id":"o","scopes":[],"status":null}}}'),
    ).toThrow(/keys entry pk-…234: "status" must be a string/)
    expect(() => parseStubRecords('{"keys":{"a.b.c":{"id":"k","organisation_id":"o","scopes":[]}}}')).toThrow(/shaped like a JWT/)
    expect(() =>
      parseStubRecords(
        '{"virtualKeys":{"vk":{"ai_provider_name":"openai","rate_limits":[{"type":"requests","unit":"rpm","value":-1}]}}}',
      ),
    ).toThrow(/virtualKeys entry "vk": "rate_limits"\[0\]\.value must be a number ≥ 0/)
  })
})
