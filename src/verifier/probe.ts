/** One part of the set-up, checked by `verifier.probe()`. */
export interface ProbeCheck {
  /** What was checked. */
  readonly name: 'control plane' | 'jwks' | 'redis'
  /** Whether it can be reached and answers like itself. */
  readonly ok: boolean
  /** What was found, in a sentence for a log or a readiness endpoint; never a credential. */
  readonly detail: string
  /** How long the check took, in milliseconds. */
  readonly durationMs: number
}

/** What `verifier.probe()` found: `ok` when every check is. */
export interface ProbeResult {
  readonly ok: boolean
  readonly checks: readonly ProbeCheck[]
  /** One line per check, e.g. `control plane: ok (401 from /v2/api-keys/self/details in 12 ms)`. */
  toString(): string
}

/** What the probe looks at; a part that is `null` is not in use and not checked. */
export interface ProbeTargets {
  /** The control plane's base URL; `null` with a custom `lookup` (nothing to reach). */
  readonly controlPlaneUrl: string | null
  readonly clientAuth: string | undefined
  /** The JWKS URL; `null` without JWT or with an inline key set. */
  readonly jwksUrl: string | null
  /** Pings Redis: true when it answered; `null` without Redis. */
  readonly redis: (() => Promise<boolean>) | null
  /** Time allowed for each check, in milliseconds. */
  readonly timeoutMs: number
}

/** Checks every part in use, in parallel. */
export async function probe(targets: ProbeTargets): Promise<ProbeResult> {
  void targets
  throw new Error('probe: not implemented yet')
}
