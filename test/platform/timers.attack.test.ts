import { afterEach, describe, expect, test, vi } from 'vitest'
import { sleep, unref } from '../../src/platform/timers.js'

// Attacks on the runtime-neutral sleep() that replaced node:timers/promises: an abort must reject with the
// signal's reason and clear its timer; a pause that ends must leave no listener on the signal.

afterEach(() => {
  vi.restoreAllMocks()
})

/** A signal whose listeners are counted. */
function countedSignal() {
  const controller = new AbortController()
  const { signal } = controller
  let listeners = 0
  const add = signal.addEventListener.bind(signal)
  const remove = signal.removeEventListener.bind(signal)
  signal.addEventListener = ((...args: Parameters<typeof add>) => {
    listeners++
    add(...args)
  }) as typeof add
  signal.removeEventListener = ((...args: Parameters<typeof remove>) => {
    listeners--
    remove(...args)
  }) as typeof remove
  return { controller, signal, listeners: () => listeners }
}

describe('attack: sleep()', () => {
  test('aborted mid-pause: rejects with the reason itself, clears its timer, never resolves later', async () => {
    const cleared = vi.spyOn(globalThis, 'clearTimeout')
    const { controller, signal } = countedSignal()
    const reason = new DOMException('deadline', 'TimeoutError')
    let resolved = false
    const pause = sleep(30, { signal, value: 'late' }).then((v) => {
      resolved = true
      return v
    })
    setTimeout(() => controller.abort(reason), 5)
    await expect(pause).rejects.toBe(reason)
    expect(cleared).toHaveBeenCalled()
    await new Promise((r) => setTimeout(r, 50))
    expect(resolved).toBe(false)
  })

  test('already aborted: rejects at once and starts no timer', async () => {
    const started = vi.spyOn(globalThis, 'setTimeout')
    const reason = new Error('gone')
    await expect(sleep(10_000, { signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
    expect(started).not.toHaveBeenCalled()
  })

  test('a pause that ends removes its abort listener (no growth on a long-lived signal), and resolves to value', async () => {
    const counted = countedSignal()
    for (let i = 0; i < 50; i++) await expect(sleep(0, { signal: counted.signal, value: i })).resolves.toBe(i)
    expect(counted.listeners()).toBe(0)
    // Aborting afterwards changes nothing.
    counted.controller.abort()
  })

  test('an abort with a falsy reason still rejects (never resolves as if the pause ended)', async () => {
    const controller = new AbortController()
    const pause = sleep(1_000, { signal: controller.signal, value: 'passed' })
    controller.abort(0)
    await expect(pause).rejects.toBe(0)
  })

  test('unref: the timer is unref()ed on Node; a number (Web runtimes) is left alone', () => {
    const timer = setTimeout(() => {}, 1_000)
    const spy = vi.spyOn(timer, 'unref')
    unref(timer)
    expect(spy).toHaveBeenCalledOnce()
    clearTimeout(timer)
    expect(() => unref(42)).not.toThrow()
    expect(() => unref(null)).not.toThrow()
    expect(() => unref({ unref: 'no' })).not.toThrow()
  })
})
