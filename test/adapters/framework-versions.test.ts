import expressPackage from 'express/package.json' with { type: 'json' }
import fastifyPackage from 'fastify/package.json' with { type: 'json' }
import koaPackage from 'koa/package.json' with { type: 'json' }
import { expect, test } from 'vitest'

// Each vitest project (vitest.config.ts) runs the adapter suites against one major of each framework;
// this proves the aliasing really swapped them.
test('the adapter suites run against the Express, Koa and Fastify majors this project names', () => {
  expect(expressPackage.version.split('.')[0]).toBe(process.env.EXPRESS_MAJOR)
  expect(koaPackage.version.split('.')[0]).toBe(process.env.KOA_MAJOR)
  expect(fastifyPackage.version.split('.')[0]).toBe(process.env.FASTIFY_MAJOR)
})
