/**
 * Sends the delivery health to `POST /v1/client-metrics` every `metricsIntervalMs`, so
 * operators see on `/metrics` when push is failing for their users. Best effort: a failure is
 * ignored, and a server without the endpoint (404) is not asked again.
 */
import type { ClientMetricsRequest } from '@taskpulse/protocol';
import type { DeliveryHealth } from './delivery-health.ts';
import type { Environment } from './environment.ts';
import type { Http } from './http.ts';

export class MetricsReporter {
  #everyMs: number;
  #http: Http;
  #env: Environment;
  #health: DeliveryHealth;
  #timer: unknown;
  #stopped = false;

  constructor(everyMs: number, http: Http, env: Environment, health: DeliveryHealth) {
    this.#everyMs = everyMs;
    this.#http = http;
    this.#env = env;
    this.#health = health;
  }

  start(): void {
    if (this.#everyMs === 0 || this.#stopped) return;
    this.#timer = this.#env.timers.setTimeout(() => void this.#report(), this.#everyMs);
  }

  stop(): void {
    this.#stopped = true;
    this.#env.timers.clearTimeout(this.#timer);
  }

  async #report(): Promise<void> {
    const body: ClientMetricsRequest = this.#health.takeWindow(this.#env.now());
    try {
      const res = await this.#http.send('POST', '/v1/client-metrics', { body });
      // An older server without the endpoint: stop asking, silently.
      if (res.status === 404) this.#stopped = true;
      void res.body?.cancel().catch(() => {});
    } catch {
      // Health reports are best effort.
    }
    this.start();
  }
}
