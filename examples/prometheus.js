// Metrics for Prometheus: an Express backend guarded by portkeyAuth() with telemetry on, and /metrics
// served by OpenTelemetry's Prometheus exporter (portkey_auth_decisions_total, portkey_auth_lookup_duration,
// the cache, breaker and Redis gauges). Needs: npm install @opentelemetry/sdk-metrics @opentelemetry/exporter-prometheus
// Run: node examples/prometheus.js
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import express from 'express'
import { portkeyAuth } from 'portkey-auth/express'
import { announce, listening, stopOnSignal, useLocalControlPlane } from './support/local-control-plane.js'

const { stub } = await useLocalControlPlane()

// The exporter is a metric reader: it collects when /metrics is scraped. preventServerStart: it is mounted
// on the app below instead of listening on a port of its own (9464 by default).
const exporter = new PrometheusExporter({ preventServerStart: true })
const meterProvider = new MeterProvider({ readers: [exporter] })

const app = express()
// Before portkeyAuth(): Prometheus scrapes without a Portkey key. Expose it on an internal port or network only.
app.get('/metrics', (req, res) => exporter.getMetricsRequestHandler(req, res))
app.use('/v1', portkeyAuth({ telemetry: { meterProvider } }))
app.get('/v1/whoami', (req, res) => res.json({ keyId: req.portkey.keyId, workspaceId: req.portkey.workspaceId }))

const server = app.listen(Number(process.env.PORT ?? 8787), '127.0.0.1')
await listening(server)
announce('Express backend with Prometheus metrics', server, (url) => [
  `curl -s ${url}/v1/whoami -H 'x-portkey-api-key: pk-demo-workspace'`,
  `curl -s ${url}/v1/whoami -H 'x-portkey-api-key: pk-nope'   # 401 invalid_api_key`,
  `curl -s ${url}/metrics | grep portkey_auth`,
])
stopOnSignal(server, stub, meterProvider)
