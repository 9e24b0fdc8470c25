import OpenAI from 'openai'
import { createHeaders } from 'portkey-ai'
import { afterEach, describe, expect, test, vi } from 'vitest'
import { keyRecord } from '../../src/testing/index.js'
import type { Decision } from '../../src/types.js'
import { ADAPTERS } from '../support/adapters.js'
import { useApp } from '../support/apps.js'
import { useStub } from '../support/servers.js'

// Issue 16: the OpenAI SDK meets our 429 as its RateLimitError, and by default retries it after the
// Retry-After we send: the retry lands in the next window and succeeds. (Both SDKs' error classes for
// every rejection, the 429 included, are in rejections.test.ts.)
const KEY = 'pk-clients-rpm-0123456789'

afterEach(() => {
  vi.useRealTimers()
})

describe.each(ADAPTERS)('%s: the OpenAI SDK and a rate-limited key', (framework) => {
  test('a 429 is retried after Retry-After (1 s, the end of the minute), and the retry is admitted', async () => {
    // Half a second before a minute ends; the faked clock moves with real time, so the SDK's wait crosses it.
    vi.useFakeTimers({ toFake: ['Date'], shouldAdvanceTime: true })
    vi.setSystemTime(Date.UTC(2026, 10, 30, 12, 0, 59, 500))
    const stub = await useStub({ keys: { [KEY]: keyRecord({ rate_limits: [{ type: 'requests', unit: 'rpm', value: 1 }] }) } })
    const decisions: Decision[] = []
    const options = { controlPlaneUrl: stub.url, bearer: false, onDecision: (decision: Decision) => decisions.push(decision) }
    const reply = { id: 'c', object: 'chat.completion', created: 0, model: 'm', choices: [] }
    const running = await useApp(framework, {
      auth: options,
      routes: [{ method: 'POST', path: '/v1/chat/completions', answer: () => reply }],
    })
    const client = new OpenAI({
      apiKey: 'sk-provider-dummy',
      baseURL: `${running.url}/v1`,
      defaultHeaders: createHeaders({ apiKey: KEY }),
    })
    const ask = () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })

    await expect(ask()).resolves.toMatchObject({ id: 'c' })
    // The minute's one request is spent: the next call is refused once, waits, and is admitted.
    await expect(ask()).resolves.toMatchObject({ id: 'c' })
    expect(decisions.map((decision) => decision.status)).toEqual([200, 429, 200])

    // Without retries, the SDK's own RateLimitError, with the headers.
    const error = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }, { maxRetries: 0 })
      .then(
        () => expect.unreachable('the call should fail'),
        (thrown: unknown) => thrown as InstanceType<typeof OpenAI.RateLimitError>,
      )
    expect(error).toBeInstanceOf(OpenAI.RateLimitError)
    expect(error.code).toBe('rate_limit_exceeded')
    expect(error.headers.get('retry-after')).toMatch(/^\d+$/)
    expect(error.headers.get('ratelimit')).toMatch(/^"rpm";r=0;t=\d+$/)
  })
})
