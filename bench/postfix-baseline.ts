// Baseline for the gateway benchmark: plain Postfix relaying everything to Postfix's smtp-sink on
// the same machine, under the load the gateway will get (10 KB messages, 10 and 50 concurrent
// senders, with and without connection reuse). Postfix is tuned for throughput as an admin would
// (POSTFIX_THROUGHPUT_TUNING). Accept latency = DATA end -> 250; end to end = until the sink has
// every message.
//   node -r ts-node/register/transpile-only -r tsconfig-paths/register bench/postfix-baseline.ts [--messages N]
//   (writes bench/results/postfix-baseline.json; needs scripts/setup/postfix.sh, runs as root)
import { cpus } from 'node:os';
import { startPostfix } from '../test/postfix/postfix-instance';
import { machineBusyCpuSeconds, processCpuSeconds } from '../test/postfix/process-group';
import { startSmtpSink } from '../test/postfix/smtp-sink';
import { makeTestMessage, percentile, runSmtpLoad } from '../test/postfix/smtp-load';
import { printTable, writeResults } from './bench-util';

/**
 * main.cf settings on top of the harness defaults. Postfix's defaults throttle a fast client:
 * in_flow_delay slows smtpd down whenever the queue manager lags, the destination concurrency
 * starts at 5 and is capped at 20, 100 processes in total (50 smtpd + their cleanup + smtp).
 */
export const POSTFIX_THROUGHPUT_TUNING: Readonly<Record<string, string | number>> = {
  in_flow_delay: '0s',
  default_process_limit: 250,
  smtp_destination_concurrency_limit: 50,
  initial_destination_concurrency: 20,
  // Measured here (2 vCPU): handing cached connections between smtp processes through scache
  // costs more Postfix CPU per message (5.2 vs 4.1 ms) than a fresh loopback connection to the
  // sink, at the same or lower end-to-end rate. So no caching: each delivery connects.
  smtp_connection_cache_on_demand: 'no',
  smtpd_client_connection_count_limit: 0,
  smtpd_client_message_rate_limit: 0,
  // Plain SMTP to the sink: no STARTTLS attempt (the sink offers none anyway).
  smtp_tls_security_level: 'none',
};

export interface PostfixRelayBaselineOptions {
  concurrency: number;
  messages: number;
  messageSize: number;
  reuseConnections: boolean;
  /** Messages sent (and delivered) first, not measured: starts processes, fills caches. */
  warmup?: number;
  /** main.cf overrides (default POSTFIX_THROUGHPUT_TUNING). */
  tuning?: Readonly<Record<string, string | number>>;
}

export interface PostfixRelayBaselineResult {
  /** Accepted by Postfix per second (first send -> last 250). */
  msgPerSec: number;
  acceptP50Ms: number;
  acceptP99Ms: number;
  /** Received by the sink per second (first send -> last message at the sink). */
  endToEndMsgPerSec: number;
  acceptMeanMs: number;
  acceptMaxMs: number;
  /** CPU time of all Postfix processes per message, ms: less sensitive to a busy machine than rates. */
  postfixCpuMsPerMsg: number;
  /** CPU time of this Node process (the nodemailer load) per message, ms. */
  clientCpuMsPerMsg: number;
  /**
   * Share of the machine's CPU capacity used during the run by processes other than Postfix,
   * the sink and this load generator (other jobs on a shared machine skew rates), percent.
   */
  otherCpuPercent: number;
  sent: number;
  errors: number;
  firstError?: string;
}

export async function runPostfixRelayBaseline(options: PostfixRelayBaselineOptions): Promise<PostfixRelayBaselineResult> {
  const sink = await startSmtpSink({ hostname: 'sink.test' });
  const postfix = await startPostfix({ name: 'baseline', relayhost: `[127.0.0.1]:${sink.port}`, mainCf: options.tuning ?? POSTFIX_THROUGHPUT_TUNING });
  try {
    const message = makeTestMessage(options.messageSize);
    const load = { port: postfix.port, concurrency: options.concurrency, message, reuseConnections: options.reuseConnections };
    const warmup = options.warmup ?? Math.min(500, options.messages);
    if (warmup > 0) {
      await runSmtpLoad({ ...load, messages: warmup });
      await sink.waitForCount(warmup, 60_000);
    }
    const before = sink.count();
    const machineBefore = machineBusyCpuSeconds();
    const sinkBefore = processCpuSeconds(sink.pid);
    const cpuBefore = postfix.cpuSeconds();
    const clientBefore = process.cpuUsage();
    const run = await runSmtpLoad({ ...load, messages: options.messages });
    await sink.waitForCount(before + run.sent, 120_000);
    const deliveredNs = process.hrtime.bigint();
    const client = process.cpuUsage(clientBefore);
    // Idle daemons use no CPU, so reading after delivery adds nothing but the queue's tail.
    const postfixCpu = postfix.cpuSeconds() - cpuBefore;
    const sinkCpu = processCpuSeconds(sink.pid) - sinkBefore;
    const machineCpu = machineBusyCpuSeconds() - machineBefore;
    const clientCpu = (client.user + client.system) / 1e6;
    const otherCpu = Math.max(0, machineCpu - postfixCpu - sinkCpu - clientCpu);
    const endToEndSeconds = Number(deliveredNs - run.startNs) / 1e9;
    const mean = run.acceptMs.reduce((s, x) => s + x, 0) / Math.max(1, run.acceptMs.length);
    return {
      msgPerSec: run.msgPerSec,
      acceptP50Ms: percentile(run.acceptMs, 50),
      acceptP99Ms: percentile(run.acceptMs, 99),
      endToEndMsgPerSec: run.sent / endToEndSeconds,
      acceptMeanMs: mean,
      acceptMaxMs: run.acceptMs[run.acceptMs.length - 1] ?? Number.NaN,
      postfixCpuMsPerMsg: (postfixCpu * 1000) / Math.max(1, run.sent),
      clientCpuMsPerMsg: (clientCpu * 1000) / Math.max(1, run.sent),
      otherCpuPercent: (100 * otherCpu) / (endToEndSeconds * cpus().length),
      sent: run.sent,
      errors: run.errors,
      ...(run.firstError !== undefined ? { firstError: run.firstError } : {}),
    };
  } finally {
    await postfix.stop();
    await sink.stop();
  }
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--messages');
  const messages = at === -1 ? 5000 : Number(process.argv[at + 1]);
  if (!Number.isInteger(messages) || messages <= 0) throw new RangeError('--messages expects a positive integer');
  const messageSize = 10 * 1024;
  const results: ({ concurrency: number; reuseConnections: boolean; messageSize: number; messages: number } & PostfixRelayBaselineResult)[] = [];
  for (const reuseConnections of [true, false]) {
    for (const concurrency of [10, 50]) {
      const r = await runPostfixRelayBaseline({ concurrency, messages, messageSize, reuseConnections });
      results.push({ concurrency, reuseConnections, messageSize, messages, ...r });
    }
  }
  printTable(
    `Postfix relay -> smtp-sink, ${messageSize / 1024} KB messages, ${messages} per run`,
    ['senders', 'connections', 'accepted msg/s', 'accept p50 ms', 'accept p99 ms', 'end-to-end msg/s', 'postfix cpu ms/msg', 'client cpu ms/msg', 'other cpu %', 'errors'],
    results.map((r) => [
      String(r.concurrency),
      r.reuseConnections ? 'reused' : 'one per msg',
      r.msgPerSec,
      r.acceptP50Ms,
      r.acceptP99Ms,
      r.endToEndMsgPerSec,
      r.postfixCpuMsPerMsg,
      r.clientCpuMsPerMsg,
      r.otherCpuPercent,
      String(r.errors),
    ]),
  );
  console.log(`\nPostfix tuning on top of the harness defaults: ${Object.entries(POSTFIX_THROUGHPUT_TUNING).map(([k, v]) => `${k}=${v}`).join(', ')}`);
  console.log(`\nwrote ${writeResults('postfix-baseline', { postfixTuning: POSTFIX_THROUGHPUT_TUNING, results })}`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
