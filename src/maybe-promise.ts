/** A value now, or a promise of it: what a check returns, so that a cached request makes no promise. */
export type MaybePromise<T> = T | Promise<T>

/**
 * `onValue(value, arg)` at once for a value, or once a promise settles. `arg` spares the caller a closure
 * per request. (Not named `then`: a module exporting `then` is a thenable, and `await import()` of it hangs.)
 */
export function andThen<T, A, R>(
  value: MaybePromise<T>,
  onValue: (value: T, arg: A) => MaybePromise<R>,
  arg: A,
): MaybePromise<R> {
  return value instanceof Promise ? value.then((settled) => onValue(settled, arg)) : onValue(value, arg)
}
