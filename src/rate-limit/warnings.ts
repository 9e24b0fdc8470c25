import type { Logger } from '../types.js'
import type { Unenforced } from './policy.js'

/**
 * What a limiter says in the log, each once: the limits it does not enforce (once per type and unit, of at most
 * about 100, so a control plane sending garbage cannot flood the log), and a report it cannot count.
 */
export class LimiterWarnings {
  readonly #logger: Logger
  readonly #said = new Set<string>()
  /** For `compile()`: a limit of a type or unit this package does not know, or a value it cannot count. */
  readonly unenforced: Unenforced = ({ type, unit }) => {
    const what = `type "${String(type)}", unit "${String(unit)}"`
    const known = 'requests or tokens; rpm, rph, rpd, rpw; a value ≥ 0'
    if (this.#said.size <= 100) this.#once(what, `a rate limit of ${what} is not enforced (known: ${known})`)
  }

  constructor(logger: Logger) {
    this.#logger = logger
  }

  /** A report that is no whole number of tokens, or not for a request's quota or a context (`got` says what came): `false`, the report's answer. */
  misreport(got: string): false {
    const takes = "a request's quota (or context) and a whole number of tokens, 0 or more"
    this.#once('reportTokens', `reportTokens() takes ${takes}; got ${got}: not counted (logged once)`)
    return false
  }

  #once(topic: string, message: string): void {
    if (this.#said.has(topic)) return
    this.#said.add(topic)
    this.#logger.warn(`portkey-auth: ${message}`)
  }
}
