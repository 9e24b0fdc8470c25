/**
 * What the fleet's counters and clock need of a Redis connection (fleet/redis.ts' `RedisConnection`): one command
 * at a time, whether it is up, and when it last came back (`epoch`, for `FleetClock`). Named here so that
 * rate-limit/ imports nothing from fleet/, which sits above it.
 */
export interface CommandLink {
  readonly connected: boolean
  readonly epoch: number
  command(args: string[]): Promise<unknown>
}
