import { errors } from 'jose'
import { describe, expect, test } from 'vitest'
import { ControlPlaneError } from '../src/errors.js'
import { networkFailure, outageCause } from '../src/network-error.js'

const coded = (code: string) => Object.assign(new Error(`connect ${code} 10.0.0.1:443`), { code })
/** What fetch rejects with: a bare TypeError, the code on its cause. */
const fetchFailed = (code: string) => new TypeError('fetch failed', { cause: coded(code) })
const timeout = () => new DOMException('The operation was aborted due to timeout', 'TimeoutError')

describe('networkFailure(): the one reading of network errors', () => {
  test.each<[string, string, boolean]>([
    ['ECONNREFUSED', 'connection refused', true],
    ['ECONNRESET', 'connection reset', true],
    ['EPIPE', 'connection closed', true],
    ['UND_ERR_SOCKET', 'connection closed', true],
    ['UND_ERR_CLOSED', 'connection closed', true],
    ['ENOTFOUND', 'host not found', false],
    ['EAI_AGAIN', 'host not found', false],
    ['EHOSTUNREACH', 'host unreachable', false],
    ['ENETUNREACH', 'network unreachable', false],
    ['ETIMEDOUT', 'ETIMEDOUT', false],
    ['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', false],
  ])('%s: "%s", retryable %s; on the error or on its cause, as fetch throws it', (code, words, retryable) => {
    expect(networkFailure(coded(code))).toEqual({ code, words, retryable })
    expect(networkFailure(fetchFailed(code))).toEqual({ code, words, retryable })
    expect(outageCause(fetchFailed(code))).toBe(`connection failed (${code})`)
  })

  test('a timeout or an abort: timed out, never retryable', () => {
    for (const error of [timeout(), new DOMException('aborted', 'AbortError'), new Error('x', { cause: timeout() })]) {
      expect(networkFailure(error)).toEqual({ code: 'timeout', words: 'timed out', retryable: false })
      expect(outageCause(error)).toBe('timed out')
    }
  })

  test('read down to the cause of a cause, no further', () => {
    const twoDeep = new Error('look-up failed', { cause: fetchFailed('ECONNRESET') })
    expect(networkFailure(twoDeep)?.code).toBe('ECONNRESET')
    expect(outageCause(twoDeep)).toBe('connection failed (ECONNRESET)')
    const threeDeep = new Error('wrapped', { cause: twoDeep })
    expect(networkFailure(threeDeep)).toBeNull()
    expect(outageCause(threeDeep)).toBe('look-up failed (Error)')
  })

  test.each<[string, unknown]>([
    ['an answer', new ControlPlaneError('key service answered 500')],
    ['a code that is no system error', Object.assign(new Error('x'), { code: 'ERR_INVALID_URL' })],
    ['a code that is not a string', Object.assign(new Error('x'), { code: 111 })],
    ['a code on a plain object cause', new Error('x', { cause: { code: 'ECONNRESET' } })],
    ['a thrown string', 'ECONNREFUSED'],
    ['a thrown null', null],
  ])('%s is no network failure', (_name, error) => {
    expect(networkFailure(error)).toBeNull()
  })
})

describe('outageCause(): why an outage happened, in a few words', () => {
  test("what the key service answered: the ControlPlaneError's message, even when a connection error is its cause", () => {
    const cutOff = new ControlPlaneError('key service answer was cut off', { cause: fetchFailed('UND_ERR_SOCKET') })
    expect(outageCause(cutOff)).toBe('key service answer was cut off')
    // The guard retries it all the same: the connection dropped.
    expect(networkFailure(cutOff)?.retryable).toBe(true)
  })

  test("the JWKS, by jose's class", () => {
    expect(outageCause(new errors.JWKSTimeout())).toBe('JWKS unavailable (JWKSTimeout)')
  })

  test("anything else by its class, never its message (a custom look-up's could hold a credential)", () => {
    const cause = outageCause(new RangeError('pk-live-secret-0001 was refused'))
    expect(cause).toBe('look-up failed (RangeError)')
    expect(outageCause('pk-live-secret-0001')).toBe('look-up failed (string)')
  })
})
