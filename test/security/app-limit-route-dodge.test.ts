import { describe, expect, test } from 'vitest'
import { keyRecord } from '../../src/testing/index.js'
import { sendRaw } from '../support/raw-socket.js'
import { ADAPTERS, type AdapterName } from '../support/adapters.js'
import { shared, startApp } from '../support/apps.js'

// Attack on issue 27 point 1: a route-bound app limit of 0 (every request on the route refused). Any target that
// reaches the route's handler with a 200 has dodged the limit. Unlike a scope map (where matching no route is
// usually harmless), a route limit is dodged precisely by a path the router routes but the matcher does not match.

const KEY = 'pk-dodge-0123456789abcdef'

interface Reached {
  route: 'chat' | 'models' | 'other'
  path: string
}

async function limitedApp(adapter: AdapterName) {
  const reached: Reached[] = []
  const app = await startApp(adapter, {
    stub: { keys: { [KEY]: keyRecord({ id: 'key_dodge', scopes: ['completions.write'] }) } },
    auth: (stub) => ({
      controlPlaneUrl: stub.url,
      rateLimits: {
        limits: [
          { name: 'chat', route: 'POST /v1/chat/completions', type: 'requests', unit: 'rpm', value: 0 },
          { name: 'models', route: 'GET /v1/models', type: 'requests', unit: 'rpm', value: 0 },
        ],
      },
    }),
    routes: [
      { method: 'POST', path: '/v1/chat/completions', answer: ({ path }) => reached.push({ route: 'chat', path }) },
      { method: 'GET', path: '/v1/models', answer: ({ path }) => reached.push({ route: 'models', path }) },
      { answer: ({ path }) => reached.push({ route: 'other', path }) },
    ],
  })
  return Object.assign(app, { reached })
}

const TARGETS = [
  '/v1/chat/completions',
  '/V1/CHAT/COMPLETIONS',
  '/v1/chat/completions/',
  '/v1/chat/completions//',
  '//v1/chat/completions',
  '///v1/chat/completions',
  '/v1//chat///completions',
  '/v1/chat/completions;x=1',
  '/v1/chat/completions;',
  '/v1;x/chat/completions',
  '/v1/chat/completions%3B',
  '/v1/chat/completions%00',
  '/v1/chat/completions%20',
  '/v1/chat/completions%09',
  '/v1/chat/completions%23',
  '/v1/chat/completions%3F',
  '/v1/chat/completions.',
  '/v1/chat/completions..',
  '/v1/chat/completions~',
  '/v1/chat/completions.json',
  '/v1/chat/completions?x=/../',
  '/v1/chat/completions#/../',
  'http://a/v1/chat/completions',
  'HTTP://a/v1/chat/completions',
  'https://a/v1/chat/completions',
  'ws://a/v1/chat/completions',
  'http://a:80/v1/chat/completions',
  'http://user@a/v1/chat/completions',
  'http://a//v1/chat/completions',
  '//a/v1/chat/completions',
  '//v1/chat/completions?x',
  `${'/a'.repeat(4000)}/v1/chat/completions`,
  '/mounted/v1/chat/completions',
]

describe.each(ADAPTERS)('%s: dodging a route-bound app limit (value 0) with request targets', (framework: AdapterName) => {
  const app = shared(() => limitedApp(framework))

  test('no spelling of POST /v1/chat/completions reaches its handler', async () => {
    const dodged: string[] = []
    for (const target of TARGETS) {
      const before = app().reached.length
      const res = await sendRaw(app().url, target, {
        method: 'POST',
        headers: { 'x-portkey-api-key': KEY, 'content-type': 'application/json' },
        body: '{}',
      })
      const seen = app().reached.slice(before)
      if (res.status === 200 && seen.some((r) => r.route === 'chat')) dodged.push(target)
    }
    expect(dodged).toEqual([])
  })

  test('HEAD and GET of GET /v1/models are both counted', async () => {
    const dodged: string[] = []
    for (const method of ['GET', 'HEAD']) {
      for (const target of ['/v1/models', '/v1/models/', '/V1/Models', 'http://a/v1/models']) {
        const before = app().reached.length
        const res = await sendRaw(app().url, target, { method, headers: { 'x-portkey-api-key': KEY } })
        if (
          res.status === 200 &&
          app()
            .reached.slice(before)
            .some((r) => r.route === 'models')
        )
          dodged.push(`${method} ${target}`)
        if (method === 'HEAD' && res.status === 200) dodged.push(`${method} ${target} (200)`)
      }
    }
    expect(dodged).toEqual([])
  })
})
