import { describe, expect, test } from 'vitest'
import { AuthError, virtualKeyNotAllowed } from '../../src/errors.js'
import type { IncomingHeaders, VirtualKeyRecord } from '../../src/types.js'
import { isVirtualKeyRecord, readVirtualKeySlug, virtualKeyOutcome } from '../../src/virtual-key/virtual-key.js'
import { virtualKeyRecord } from '../../src/testing/index.js'
import { expectAuthError } from '../support/core-helpers.js'

const VK = 'x-portkey-virtual-key'
const PROVIDER = 'x-portkey-provider'

describe('readVirtualKeySlug', () => {
  test.each<{ name: string; headers: IncomingHeaders; slug: string | null }>([
    { name: 'no header', headers: {}, slug: null },
    { name: 'an empty x-portkey-virtual-key', headers: { [VK]: '' }, slug: null },
    { name: 'x-portkey-virtual-key', headers: { [VK]: 'openai-prod' }, slug: 'openai-prod' },
    { name: "x-portkey-provider '@slug'", headers: { [PROVIDER]: '@openai-prod' }, slug: 'openai-prod' },
    { name: "a plain provider name ('openai')", headers: { [PROVIDER]: 'openai' }, slug: null },
    {
      name: 'both headers naming the same slug',
      headers: { [VK]: 'openai-prod', [PROVIDER]: '@openai-prod' },
      slug: 'openai-prod',
    },
    {
      name: 'x-portkey-virtual-key beside a plain provider',
      headers: { [VK]: 'openai-prod', [PROVIDER]: 'openai' },
      slug: 'openai-prod',
    },
    {
      name: "an empty x-portkey-virtual-key beside '@slug'",
      headers: { [VK]: '', [PROVIDER]: '@anthropic-1' },
      slug: 'anthropic-1',
    },
    { name: 'letters, digits, dots, dashes and underscores', headers: { [VK]: 'Azure_EU.west-2' }, slug: 'Azure_EU.west-2' },
    { name: 'a single character', headers: { [VK]: 'a' }, slug: 'a' },
    { name: '128 characters (the longest)', headers: { [VK]: 'v'.repeat(128) }, slug: 'v'.repeat(128) },
  ])('$name → $slug', ({ headers, slug }) => {
    expect(readVirtualKeySlug(headers)).toBe(slug)
  })

  test.each<{ name: string; headers: IncomingHeaders }>([
    { name: 'both headers naming different slugs', headers: { [VK]: 'openai-prod', [PROVIDER]: '@anthropic-prod' } },
    { name: 'a repeated x-portkey-virtual-key (array)', headers: { [VK]: ['openai-prod', 'openai-prod'] } },
    { name: "'../x'", headers: { [VK]: '../x' } },
    { name: "'a/b'", headers: { [VK]: 'a/b' } },
    { name: "'%2e'", headers: { [VK]: '%2e' } },
    { name: "'a%2Fb'", headers: { [VK]: 'a%2Fb' } },
    { name: "'a b'", headers: { [VK]: 'a b' } },
    { name: "'a,b' (two headers joined by Node)", headers: { [VK]: 'a, b' } },
    { name: "'.hidden'", headers: { [VK]: '.hidden' } },
    { name: "'..'", headers: { [VK]: '..' } },
    { name: "'a?b'", headers: { [VK]: 'a?b' } },
    { name: "'a#b'", headers: { [VK]: 'a#b' } },
    { name: '129 characters', headers: { [VK]: 'v'.repeat(129) } },
    { name: 'unicode', headers: { [VK]: 'ópenai' } },
    { name: 'a tab', headers: { [VK]: 'openai\tprod' } },
    { name: "'@' alone in x-portkey-provider", headers: { [PROVIDER]: '@' } },
    { name: "'@../x' in x-portkey-provider", headers: { [PROVIDER]: '@../x' } },
    { name: "'@.hidden' in x-portkey-provider", headers: { [PROVIDER]: '@.hidden' } },
    { name: '129 characters in x-portkey-provider', headers: { [PROVIDER]: `@${'v'.repeat(129)}` } },
    // Issue 11, item 8: Node joins repeated headers with ', '; 'openai, @victim' must not pass as "no virtual key".
    { name: "a repeated x-portkey-provider joined by Node ('openai, @victim')", headers: { [PROVIDER]: 'openai, @victim' } },
    { name: "a repeated plain provider joined by Node ('openai, openai')", headers: { [PROVIDER]: 'openai, openai' } },
    { name: "a comma in x-portkey-provider ('openai,@victim')", headers: { [PROVIDER]: 'openai,@victim' } },
    { name: "an empty then an '@slug' x-portkey-provider (', @victim')", headers: { [PROVIDER]: ', @victim' } },
    { name: "a repeated x-portkey-provider (array ['openai', '@victim'])", headers: { [PROVIDER]: ['openai', '@victim'] } },
    { name: "a repeated x-portkey-provider (array ['@victim', 'openai'])", headers: { [PROVIDER]: ['@victim', 'openai'] } },
    { name: 'an x-portkey-provider array of one', headers: { [PROVIDER]: ['openai'] } },
    { name: 'an empty x-portkey-provider array', headers: { [PROVIDER]: [] } },
    { name: "a comma in x-portkey-virtual-key ('mine,victim')", headers: { [VK]: 'mine,victim' } },
    { name: 'x-portkey-virtual-key beside a repeated provider', headers: { [VK]: 'mine', [PROVIDER]: 'openai, @victim' } },
  ])('$name → 400 invalid_request', async ({ headers }) => {
    const error = await expectAuthError(() => readVirtualKeySlug(headers), 'invalid_request', 400)
    expect(error.type).toBe('invalid_request_error')
  })
})

describe('isVirtualKeyRecord', () => {
  test.each<{ name: string; value: unknown; ok: boolean }>([
    { name: 'a full record', value: virtualKeyRecord(), ok: true },
    { name: 'slug and provider only', value: { slug: 'a', ai_provider_name: 'openai' }, ok: true },
    {
      name: 'a valid expires_at',
      value: { slug: 'a', ai_provider_name: 'openai', expires_at: '2030-01-01T00:00:00Z' },
      ok: true,
    },
    { name: 'expires_at null', value: { slug: 'a', ai_provider_name: 'openai', expires_at: null }, ok: true },
    { name: 'null', value: null, ok: false },
    { name: 'a string', value: 'openai-prod', ok: false },
    { name: 'no slug', value: { ai_provider_name: 'openai' }, ok: false },
    { name: 'a numeric slug', value: { slug: 1, ai_provider_name: 'openai' }, ok: false },
    { name: 'no provider', value: { slug: 'a' }, ok: false },
    { name: 'a provider that is not a string', value: { slug: 'a', ai_provider_name: { name: 'openai' } }, ok: false },
    { name: 'an unparseable expires_at', value: { slug: 'a', ai_provider_name: 'openai', expires_at: 'soon' }, ok: false },
    { name: 'a record wrapped in data', value: { data: { slug: 'a', ai_provider_name: 'openai' } }, ok: false },
    // Issue 11, item 10: each field the verifier reads is type-checked, over an otherwise valid record.
    { name: 'an empty slug', value: { ...virtualKeyRecord(), slug: '' }, ok: false },
    { name: 'an empty provider', value: { ...virtualKeyRecord(), ai_provider_name: '' }, ok: false },
    { name: 'a null provider', value: { ...virtualKeyRecord(), ai_provider_name: null }, ok: false },
    { name: 'status null (not active: unusable)', value: { ...virtualKeyRecord(), status: null }, ok: false },
    { name: 'status a number', value: { ...virtualKeyRecord(), status: 1 }, ok: false },
    { name: 'status true', value: { ...virtualKeyRecord(), status: true }, ok: false },
    { name: 'workspace_id an object', value: { ...virtualKeyRecord(), workspace_id: { id: 'ws_test' } }, ok: false },
    { name: 'workspace_id a number', value: { ...virtualKeyRecord(), workspace_id: 7 }, ok: false },
    { name: 'workspace_id an array', value: { ...virtualKeyRecord(), workspace_id: ['ws_test'] }, ok: false },
    { name: 'expires_at a number', value: { ...virtualKeyRecord(), expires_at: 4_102_444_800_000 }, ok: false },
    {
      name: 'expires_at a small number (Date.parse would read it as a year)',
      value: { ...virtualKeyRecord(), expires_at: 2100 },
      ok: false,
    },
    { name: 'expires_at an object', value: { ...virtualKeyRecord(), expires_at: {} }, ok: false },
    { name: 'usage_limits a string', value: { ...virtualKeyRecord(), usage_limits: 'lots' }, ok: false },
    { name: 'usage_limits an array', value: { ...virtualKeyRecord(), usage_limits: [] }, ok: false },
    { name: 'rate_limits an object', value: { ...virtualKeyRecord(), rate_limits: { type: 'requests' } }, ok: false },
    { name: 'rate_limits a string', value: { ...virtualKeyRecord(), rate_limits: 'rpm' }, ok: false },
    {
      name: 'workspace_id, status, usage and rate limits null',
      value: { ...virtualKeyRecord(), workspace_id: null, usage_limits: null, rate_limits: null },
      ok: true,
    },
    {
      name: 'status absent, limits given',
      value: { ...virtualKeyRecord(), status: undefined, usage_limits: { credit_limit: 5 }, rate_limits: [] },
      ok: true,
    },
    { name: 'an unknown status (a string)', value: { ...virtualKeyRecord(), status: 'paused' }, ok: true },
  ])('$name → $ok', ({ value, ok }) => {
    expect(isVirtualKeyRecord(value)).toBe(ok)
  })
})

describe('virtualKeyOutcome', () => {
  const NOW = Date.parse('2026-01-01T00:00:00Z')
  const WS = 'ws_test'
  const NOT_ALLOWED = virtualKeyNotAllowed().message

  test('an active key of the caller’s workspace: { slug, provider, status }, frozen, until its expires_at', () => {
    const outcome = virtualKeyOutcome(
      virtualKeyRecord({ slug: 'openai-prod', ai_provider_name: 'openai', expires_at: '2026-06-01T00:00:00Z' }),
      'openai-prod',
      WS,
      NOW,
    )
    expect(outcome).toStrictEqual({
      value: { slug: 'openai-prod', provider: 'openai', status: 'active', rateLimits: [] },
      expiresAtMs: Date.parse('2026-06-01T00:00:00Z'),
    })
    expect(Object.isFrozen(outcome.value)).toBe(true)
  })

  test.each<{ name: string; fields: Partial<VirtualKeyRecord> }>([
    { name: 'no status', fields: { status: undefined } },
    { name: 'no expires_at', fields: { expires_at: undefined } },
  ])('$name: active, with no deadline', ({ fields }) => {
    const outcome = virtualKeyOutcome(virtualKeyRecord({ slug: 'vk', ai_provider_name: 'anthropic', ...fields }), 'vk', WS, NOW)
    expect(outcome).toStrictEqual({
      value: { slug: 'vk', provider: 'anthropic', status: 'active', rateLimits: [] },
      expiresAtMs: Infinity,
    })
  })

  test.each<{ name: string; fields: Partial<VirtualKeyRecord>; code: string; status: number }>([
    { name: 'another workspace', fields: { workspace_id: 'ws_other' }, code: 'virtual_key_not_allowed', status: 403 },
    // The record of another spelling (a control plane that ignores case, an alias) is not the slug asked for.
    { name: 'another slug', fields: { slug: 'VK' }, code: 'virtual_key_not_allowed', status: 403 },
    {
      name: 'another slug, exhausted',
      fields: { slug: 'vk2', status: 'exhausted' },
      code: 'virtual_key_not_allowed',
      status: 403,
    },
    { name: 'no workspace', fields: { workspace_id: null }, code: 'virtual_key_not_allowed', status: 403 },
    { name: "status 'expired'", fields: { status: 'expired' }, code: 'virtual_key_not_allowed', status: 403 },
    { name: "status 'archived'", fields: { status: 'archived' }, code: 'virtual_key_not_allowed', status: 403 },
    { name: 'an unknown status', fields: { status: 'paused' }, code: 'virtual_key_not_allowed', status: 403 },
    // isVirtualKeyRecord refuses it first; should one get here anyway, null is not active.
    { name: 'status null', fields: { status: null as unknown as string }, code: 'virtual_key_not_allowed', status: 403 },
    {
      name: 'a past expires_at',
      fields: { expires_at: new Date(NOW - 1).toISOString() },
      code: 'virtual_key_not_allowed',
      status: 403,
    },
    {
      name: 'expires_at exactly now',
      fields: { expires_at: new Date(NOW).toISOString() },
      code: 'virtual_key_not_allowed',
      status: 403,
    },
    { name: "status 'exhausted'", fields: { status: 'exhausted' }, code: 'usage_limit_exceeded', status: 412 },
    // Another workspace's exhausted key must not tell its state apart from one that does not exist.
    {
      name: "another workspace's exhausted key",
      fields: { status: 'exhausted', workspace_id: 'ws_other' },
      code: 'virtual_key_not_allowed',
      status: 403,
    },
  ])('$name → $status $code', ({ fields, code, status }) => {
    const outcome = virtualKeyOutcome(virtualKeyRecord({ slug: 'vk', ...fields }), 'vk', WS, NOW)
    expect(outcome.value).toBeUndefined()
    const error = outcome.reject!()
    expect(error).toBeInstanceOf(AuthError)
    expect({ code: error.code, status: error.status }).toEqual({ code, status })
    if (status === 403) expect(error.message).toBe(NOT_ALLOWED)
    else expect(error.message).not.toBe(NOT_ALLOWED)
  })
})
