// The part of autocannon's API that bench/load.js uses: autocannon ships no types.
declare module 'autocannon' {
  interface Options {
    url: string
    headers?: Record<string, string>
    connections?: number
    pipelining?: number
    /** Seconds. */
    duration?: number
  }
  interface Result {
    requests: { total: number }
    /** Seconds. */
    duration: number
    non2xx: number
    errors: number
    timeouts: number
  }
  /** Also a promise of the result, when no callback is given. */
  interface Instance extends PromiseLike<Result> {
    on(event: 'response', listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void): this
  }
  export default function autocannon(options: Options): Instance
}
