// Prometheus metrics: process defaults plus request counts and latencies by route and status.
import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** What the metrics read from the running services, sampled at scrape time. */
export interface MetricSources {
  queuedTasks(): Promise<number>;
  runningTasks(): number;
  syncEdits(): { running: number; waiting: number };
}

export function installMetrics(app: FastifyInstance, sources?: MetricSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'atelier_' });
  const requests = new Counter({
    name: 'atelier_http_requests_total',
    help: 'HTTP requests by route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'atelier_http_request_duration_seconds',
    help: 'HTTP request latency by route.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  if (sources) {
    new Gauge({
      name: 'atelier_tasks_queued',
      help: 'Async tasks accepted and waiting for a worker.',
      registers: [registry],
      async collect() {
        this.set(await sources.queuedTasks());
      },
    });
    new Gauge({
      name: 'atelier_tasks_running',
      help: 'Async tasks being processed by this process.',
      registers: [registry],
      collect() {
        this.set(sources.runningTasks());
      },
    });
    new Gauge({
      name: 'atelier_sync_edits',
      help: 'Synchronous edits in progress and waiting, by state.',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        const s = sources.syncEdits();
        this.set({ state: 'running' }, s.running);
        this.set({ state: 'waiting' }, s.waiting);
      },
    });
  }
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
  return registry;
}
