import type { ScopeMap } from '../types.js'

/** The scope of Portkey's inference routes; organisation keys may not call them, whatever they hold. */
export const INFERENCE = 'completions.write'

/** Portkey's own route-to-scope mapping, as its gateway applies it (`scopes: 'portkey'`). */
export const PORTKEY_SCOPES: ScopeMap = Object.freeze({
  'POST /v1/chat/completions': INFERENCE,
  'POST /v1/completions': INFERENCE,
  'POST /v1/embeddings': INFERENCE,
  'POST /v1/images/*': INFERENCE,
  'POST /v1/audio/*': INFERENCE,
  'POST /v1/messages': INFERENCE,
  'POST /v1/responses': INFERENCE,
  'POST /v1/moderations': INFERENCE,
  'POST /v1/prompts/:id/completions': INFERENCE,
  'POST /v1/prompts/:id/render': 'prompts.render',
  'GET /v1/models': [INFERENCE, 'virtual_keys.list'],
  'POST /v1/logs': 'logs.write',
  'GET /v1/logs/exports*': 'logs.export',
  'POST /v1/logs/exports*': 'logs.export',
  'GET /v1/logs*': 'logs.read',
  'POST /v1/feedback*': 'feedbacks.write',
  'PUT /v1/feedback*': 'feedbacks.write',
  'GET /v1/feedback*': 'feedbacks.read',
  '/v1/mcp*': 'mcp.invoke',
  '/v1/agents*': 'agents.invoke',
  '/v1/guardrails*': 'guardrails.invoke',
})
