import type Koa from 'koa'
import type { Middleware, ParameterizedContext } from 'koa'

/** What koa-mount does: strip `prefix` from ctx.path, run the inner app's middleware, restore the path. */
export function mount(prefix: string, inner: Koa): Middleware {
  const run = (ctx: ParameterizedContext, i: number): Promise<void> =>
    Promise.resolve(i < inner.middleware.length ? inner.middleware[i]!(ctx as never, () => run(ctx, i + 1)) : undefined)
  return async function mounted(ctx, next) {
    const path = ctx.path
    if (path !== prefix && !path.startsWith(`${prefix}/`)) return next()
    ctx.path = path.slice(prefix.length) || '/'
    try {
      await run(ctx, 0)
    } finally {
      ctx.path = path
    }
  }
}
