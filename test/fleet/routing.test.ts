import { describe, expect, test } from 'vitest'
import { keyOf } from '../../src/fleet/redis-cluster-link.js'

describe('keyOf: the key a cluster routes a command by', () => {
  test.each<[string[], string | undefined]>([
    [['GET', 'a'], 'a'],
    [['SET', 'a', '1', 'PX', '10'], 'a'],
    [['DEL', 'a', 'a:lock'], 'a'],
    [['INCR', 'a'], 'a'],
    [['SADD', 'a', 'm'], 'a'],
    [['EVAL', 'return 1', '1', 'a', 'x'], 'a'],
    [['eval', 'return 1', '2', 'a', 'b'], 'a'],
    [['EVALSHA', 'abc', '1', 'a'], 'a'],
    [['EVAL', 'return 1', '0', 'x'], undefined],
    [['PUBLISH', 'channel', 'm'], undefined],
    [['PING'], undefined],
    [['WAIT', '1', '100'], undefined],
  ])('%j -> %s', (args, key) => {
    expect(keyOf(args)).toBe(key)
  })
})
