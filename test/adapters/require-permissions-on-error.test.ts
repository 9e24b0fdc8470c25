import { describe, expect, test } from 'vitest'
import type { AuthError } from '../../src/errors.js'
import { keyRecord } from '../../src/testing/index.js'
import { ADAPTERS } from '../support/adapters.js'
import { type StartSpec, useApp } from '../support/apps.js'
import { send } from '../support/servers.js'

// requirePermissions() after portkeyAuth({ onError }) answers through that onError, as portkeyAuth's own
// rejections do: an app that renders its errors one way sees the 403 too.
const READER = 'pk-reader-0123456789abcdef'

/** `GET /v1/logs` behind `requirePermissions('logs.export')`; `portkeyAuth({ onError })` in front of it pushes to `seen`. */
const logsApp = (seen: AuthError[]) =>
  ({
    onError: { via: 'option', answer: (error) => (seen.push(error), { status: 418, body: { mine: error.code } }) },
    routes: [{ method: 'GET', path: '/v1/logs', scopes: ['logs.export'], answer: () => 'ok' }],
  }) satisfies Omit<StartSpec, 'auth'>

describe.each(ADAPTERS)('%s: requirePermissions() through onError', (adapter) => {
  test("a missing scope reaches portkeyAuth()'s onError, not the default body", async () => {
    const seen: AuthError[] = []
    const app = await useApp(adapter, {
      ...logsApp(seen),
      stub: { keys: { [READER]: keyRecord({ id: 'key_reader', scopes: ['logs.read'] }) } },
      auth: (stub) => ({ controlPlaneUrl: stub.url }),
    })
    const res = await send(`${app.url}/v1/logs`, { 'x-portkey-api-key': READER })
    expect({ status: res.status, body: res.json() }).toEqual({ status: 418, body: { mine: 'insufficient_scope' } })
    expect(seen.map((error) => [error.status, error.code])).toEqual([[403, 'insufficient_scope']])
  })

  test('without portkeyAuth() before it, the default 500 (no onError is known)', async () => {
    const seen: AuthError[] = []
    const app = await useApp(adapter, { ...logsApp(seen), auth: null })
    const res = await send(`${app.url}/v1/logs`, {})
    expect(res.status).toBe(500)
    expect(res.json()).toMatchObject({ error: { code: 'auth_misconfigured' } })
    expect(seen).toEqual([])
  })
})
