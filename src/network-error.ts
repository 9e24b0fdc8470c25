import { ControlPlaneError } from './errors.js'

/**
 * What went wrong with a call to the control plane, the JWKS or Redis, when the network is why: read from
 * error classes and codes only, never from a message (a foreign error's message may quote a URL, an answer or
 * a secret). The one reading of network errors: the guard's retry, `onDecision`'s and the log's cause, the
 * spans' status and `verifier.probe()`'s details all go through it.
 */
export interface NetworkFailure {
  /** `'timeout'`, or the code of the failed connection: `ECONNREFUSED`, `UND_ERR_SOCKET`, … */
  readonly code: string
  /** In a few words: `'timed out'`, `'connection refused'`, `'host not found'`; the code where none are known. */
  readonly words: string
  /**
   * A connection refused or dropped: worth one quick retry. Not a timeout (the time allowed is spent), nor a
   * host that did not resolve or cannot be routed to (a retry a few ms later finds the same).
   */
  readonly retryable: boolean
}

const TIMEOUT: NetworkFailure = Object.freeze({ code: 'timeout', words: 'timed out', retryable: false })

/** The connection failures with words of their own; `retryable` ones are refused or dropped connections. */
const KNOWN: Readonly<Record<string, { words: string; retryable: boolean }>> = {
  ECONNREFUSED: { words: 'connection refused', retryable: true },
  ECONNRESET: { words: 'connection reset', retryable: true },
  EPIPE: { words: 'connection closed', retryable: true },
  UND_ERR_SOCKET: { words: 'connection closed', retryable: true },
  UND_ERR_CLOSED: { words: 'connection closed', retryable: true },
  ENOTFOUND: { words: 'host not found', retryable: false },
  EAI_AGAIN: { words: 'host not found', retryable: false },
  EHOSTUNREACH: { words: 'host unreachable', retryable: false },
  ENETUNREACH: { words: 'network unreachable', retryable: false },
}

/** Any other code of Node's system errors (`ETIMEDOUT`) or of undici's (`UND_ERR_CONNECT_TIMEOUT`): a connection failure too. */
const CONNECTION_CODE = /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/

/**
 * How far down `error.cause` a failure is looked for: fetch rejects with `TypeError('fetch failed')` whose
 * cause holds the code, and a custom look-up may wrap that once more.
 */
const DEPTH = 3

/** What `error` itself (not its causes) says about the network: a timeout, a failed connection, or `null`. */
function failureOf(error: Error): NetworkFailure | null {
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return TIMEOUT
  const code = (error as { code?: unknown }).code
  if (typeof code !== 'string') return null
  const known = Object.hasOwn(KNOWN, code) ? KNOWN[code] : undefined
  if (known !== undefined) return { code, ...known }
  return CONNECTION_CODE.test(code) ? { code, words: code, retryable: false } : null
}

/** The first network failure in `error` and its causes, or `null` when the network is not why it failed. */
export function networkFailure(error: unknown): NetworkFailure | null {
  return inChain(error, failureOf)
}

/**
 * Why an outage happened, in a few words for `onDecision`, the log and a span's status: `timed out`, a failed
 * connection (`connection failed (ECONNREFUSED)`), what the key service answered (a `ControlPlaneError`'s
 * message), the JWKS. An error from a custom look-up is named by its class, never quoted: its message could
 * hold anything, a credential included.
 */
export function outageCause(error: unknown): string {
  return inChain(error, causeOf) ?? `look-up failed (${error instanceof Error ? error.name : typeof error})`
}

/** What `outageCause()` says of `error` itself, or `null` to look at its cause. */
function causeOf(error: Error): string | null {
  const failure = failureOf(error)
  if (failure !== null) return failure === TIMEOUT ? failure.words : `connection failed (${failure.code})`
  if (error instanceof ControlPlaneError) return error.message
  if (error.name.startsWith('JWKS') || error.constructor.name === 'JOSEError') return `JWKS unavailable (${error.name})`
  return null
}

/** What `read` finds first in `error` and its causes, down to `DEPTH`; `null` when it finds nothing. */
function inChain<T>(error: unknown, read: (error: Error) => T | null): T | null {
  for (let e = error, depth = 0; e instanceof Error && depth < DEPTH; e = e.cause, depth++) {
    const found = read(e)
    if (found !== null) return found
  }
  return null
}
