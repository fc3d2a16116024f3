// A tiny node:http server on METRICS_PORT: /metrics (Prometheus text), /healthz (the process is
// alive), /readyz (every dependency answers: HSM token and login, PostgreSQL, Redis; 503 naming
// the failing ones otherwise). Each check is bounded, so a hung dependency reads as not ready.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { GatewayMetrics } from './metrics';

export type ReadinessCheck = () => Promise<{ ready: boolean; detail?: string }>;

const CHECK_TIMEOUT_MS = 3000;

async function runCheck(check: ReadinessCheck): Promise<{ ready: boolean; detail?: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      check(),
      new Promise<{ ready: boolean; detail: string }>((resolve) => {
        timer = setTimeout(() => resolve({ ready: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }), CHECK_TIMEOUT_MS);
      }),
    ]);
  } catch (error) {
    return { ready: false, detail: error instanceof Error ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}

export class MetricsServer {
  private readonly server: Server;

  constructor(
    private readonly metrics: GatewayMetrics,
    private readonly checks: Readonly<Record<string, ReadinessCheck>>,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  listen(port: number, host: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Each check's result, and whether all are ready. */
  async readiness(): Promise<{ ready: boolean; checks: Record<string, { ready: boolean; detail?: string }> }> {
    const names = Object.keys(this.checks);
    const results = await Promise.all(names.map((n) => runCheck(this.checks[n]!)));
    const checks = Object.fromEntries(names.map((n, i) => [n, results[i]!]));
    return { ready: results.every((r) => r.ready), checks };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed\n');
      if (path === '/metrics') return send(res, 200, this.metrics.registry.contentType, await this.metrics.registry.metrics());
      if (path === '/healthz') return send(res, 200, 'application/json', '{"status":"ok"}\n');
      if (path === '/readyz') {
        const r = await this.readiness();
        return send(res, r.ready ? 200 : 503, 'application/json', `${JSON.stringify({ status: r.ready ? 'ready' : 'not ready', checks: r.checks })}\n`);
      }
      return send(res, 404, 'text/plain', 'not found\n');
    } catch {
      return send(res, 500, 'text/plain', 'internal error\n');
    }
  }
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
