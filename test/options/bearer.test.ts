import { describe, expect, test } from 'vitest'
import { DEFAULTS } from '../../src/options/defaults.js'
import { resolveOptions } from '../../src/options/resolve.js'
import type { VerifierOptions } from '../../src/options/verifier-options.js'
import { portkeyAuth as expressAuth } from '../../src/express/index.js'
import { portkeyAuth as koaAuth } from '../../src/koa/index.js'
import { createVerifier } from '../../src/verifier/create-verifier.js'

const resolve = (options: unknown) => resolveOptions(options as VerifierOptions, {})
const OFFLINE = 'http://127.0.0.1:9'

describe('the bearer option', () => {
  test('off by default (Authorization often carries a provider key or the app’s token), in the table of defaults', () => {
    expect(DEFAULTS.bearer).toBe(false)
    expect(resolve({}).bearer).toBe(false)
    expect(resolve({ bearer: undefined }).bearer).toBe(false)
    expect(resolve({ bearer: true }).bearer).toBe(true)
    expect(resolve({ bearer: false }).bearer).toBe(false)
  })

  test.each<[string, unknown, string]>([
    ['a string', 'false', '"false" (a string)'],
    ['a number', 0, '0'],
    ['null', null, 'null'],
    ['an object', {}, 'an object'],
  ])('%s is a TypeError naming the option and the value', (_name, bearer, shown) => {
    expect(() => resolve({ bearer })).toThrow(TypeError)
    expect(() => resolve({ bearer })).toThrow(`portkey-auth: bearer must be true or false, got ${shown}`)
  })

  test.each([['Bearer'], ['bearers'], ['baerer']])('a misspelling (%s) is refused, naming bearer', (name) => {
    expect(() => resolve({ [name]: false })).toThrow(new RegExp(`unknown option ${name}: did you mean bearer\\?`))
  })

  test('an adapter takes it as a verifier option', () => {
    expect(expressAuth({ controlPlaneUrl: OFFLINE, bearer: true }).verifier.bearer).toBe(true)
    expect(koaAuth({ controlPlaneUrl: OFFLINE, bearer: true }).verifier.bearer).toBe(true)
    expect(koaAuth({ controlPlaneUrl: OFFLINE }).verifier.bearer).toBe(false)
  })

  test('beside a verifier it is refused: it belongs to createVerifier()', () => {
    const verifier = createVerifier({ controlPlaneUrl: OFFLINE })
    expect(() => expressAuth({ verifier, bearer: false })).toThrow(/pass bearer to createVerifier\(\), not beside a verifier/)
  })
})
