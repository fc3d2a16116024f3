// The gateway's Prometheus metrics, defined in one place: acceptance, delivery outcomes, queue depth,
// latencies. Served on METRICS_PORT at /metrics (see metrics.server.ts).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();

  readonly accepted = new Counter({
    name: 'dime_gateway_messages_accepted_total',
    help: 'Messages accepted (250 sent), by listener',
    labelNames: ['listener'] as const,
    registers: [this.registry],
  });

  readonly rejected = new Counter({
    name: 'dime_gateway_smtp_rejections_total',
    help: 'SMTP commands refused, by listener and reply class (4xx/5xx) and reason',
    labelNames: ['listener', 'class', 'reason'] as const,
    registers: [this.registry],
  });

  readonly delivered = new Counter({
    name: 'dime_gateway_recipients_delivered_total',
    help: 'Recipients delivered, by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });

  readonly deferred = new Counter({
    name: 'dime_gateway_recipients_deferred_total',
    help: 'Recipients deferred for a retry, by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });

  readonly bounced = new Counter({
    name: 'dime_gateway_recipients_bounced_total',
    help: 'Recipients bounced (DSN sent), by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });

  readonly queueDepth = new Gauge({
    name: 'dime_gateway_queue_depth',
    help: 'Open recipients in the durable queue, by status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly acceptLatency = new Histogram({
    name: 'dime_gateway_accept_latency_seconds',
    help: 'From end of DATA to the 250 reply (spool write, fsync, database, enqueue)',
    labelNames: ['listener'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly acceptStageDuration = new Histogram({
    name: 'dime_gateway_accept_stage_seconds',
    help: 'Duration of each durable-acceptance stage before the 250 (spool write + fsync, database insert, enqueue)',
    labelNames: ['stage'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly deliveryLatency = new Histogram({
    name: 'dime_gateway_delivery_latency_seconds',
    help: 'From acceptance to successful delivery, by route',
    labelNames: ['route'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600],
    registers: [this.registry],
  });

  readonly stepDuration = new Histogram({
    name: 'dime_gateway_pipeline_step_seconds',
    help: 'Duration of each pipeline step, by step and outcome',
    labelNames: ['step', 'outcome'] as const,
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'dime_gateway_' });
  }
}
