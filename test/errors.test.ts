import { describe, expect, test } from 'vitest'
import { AuthError, errorBody } from '../src/errors.js'

describe('errorBody', () => {
  test('carries the Portkey and OpenAI shapes with the same message', () => {
    const body = errorBody(new AuthError('invalid_api_key', 401, 'nope'))
    expect(body).toEqual({
      status: 'failure',
      message: 'nope',
      error: { message: 'nope', type: 'authentication_error', code: 'invalid_api_key' },
    })
  })
})
