// Timers that behave alike on every runtime: Node's `timers/promises` is not on Workers without
// `nodejs_compat`, and a Web runtime's `setTimeout` returns a number, with no `unref()`.

/** What `sleep()` may be told. */
export interface SleepOptions<T> {
  /** What the promise resolves to. */
  readonly value?: T
  /** Ends the pause early: the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal
  /** On Node, a pending pause does not keep the process alive. Default false. */
  readonly unref?: boolean
}

/** A pause of `ms` milliseconds that resolves to `options.value`. */
export function sleep<T = undefined>(ms: number, options: SleepOptions<T> = {}): Promise<T> {
  const { value, signal } = options
  return new Promise<T>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const abort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort)
      resolve(value as T)
    }, ms)
    if (options.unref) unref(timer)
    signal?.addEventListener('abort', abort, { once: true })
  })
}

/** Lets Node's process end while `timer` is pending; nothing where timers are numbers (Web runtimes). */
export function unref(timer: unknown): void {
  if (typeof timer === 'object' && timer !== null && 'unref' in timer && typeof timer.unref === 'function') timer.unref()
}
