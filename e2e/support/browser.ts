/**
 * Real Chromium for the browser tests (the Debian package; nothing is downloaded), and a
 * recorder injected into every page before its scripts run: it notes, with the time, every
 * change of the task card (percent, stage, message, status) and of the connection badge, so a
 * test can ask what the page showed and when — including the very first state after a reload.
 */
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** One observed state of the page. */
export interface Seen {
  /** `Date.now()` in the page (same machine clock as the test). */
  at: number;
  percent: string | null;
  stage: string | null;
  message: string | null;
  status: string | null;
  source: string | null;
  connection: string | null;
  completions: number;
}

declare global {
  interface Window {
    __seen: Seen[];
    /** Tasks whose completion notice was ever on screen (notices go away by themselves). */
    __completionTasks: Set<string>;
  }
}

/** Runs in the page at document start. */
function recorder(): void {
  window.__seen = [];
  window.__completionTasks = new Set();
  const text = (sel: string) => document.querySelector(sel)?.textContent ?? null;
  const record = () => {
    const card = document.querySelector('[data-testid="task"]');
    const now: Seen = {
      at: Date.now(),
      percent: card?.querySelector('[data-testid="bar"]')?.getAttribute('data-percent') ?? null,
      stage: card ? text('[data-testid="stage"]') : null,
      message: card ? text('[data-testid="message"]') : null,
      status: card?.getAttribute('data-status') ?? null,
      source: card?.getAttribute('data-source') ?? null,
      connection: document.querySelector('[data-testid="connection"]')?.getAttribute('data-state') ?? null,
      completions: document.querySelectorAll('[data-testid="completion"]').length,
    };
    for (const c of document.querySelectorAll('[data-testid="completion"]')) window.__completionTasks.add(c.getAttribute('data-task-id') ?? '');
    const last = window.__seen[window.__seen.length - 1];
    const keys = ['percent', 'stage', 'message', 'status', 'source', 'connection', 'completions'] as const;
    if (last === undefined || keys.some((k) => last[k] !== now[k])) window.__seen.push(now);
  };
  // Mutation records are delivered in a microtask after the change: before the next paint.
  new MutationObserver(record).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
}

/** A page of one of the examples, driven by a test. */
export class ExamplePage {
  /** Event-stream requests this tab made (`GET /v1/stream`), counted by the browser. */
  streamRequests = 0;

  constructor(readonly page: Page) {
    page.on('request', (request) => {
      if (new URL(request.url()).pathname === '/v1/stream') this.streamRequests++;
    });
    page.on('pageerror', (error) => console.error(`[page error] ${error.message}`));
  }

  static async open(context: BrowserContext, url: string): Promise<ExamplePage> {
    const example = new ExamplePage(await context.newPage());
    await example.page.goto(url);
    return example;
  }

  /** Everything the page showed since it loaded, in order. */
  seen(): Promise<Seen[]> {
    return this.page.evaluate(() => window.__seen);
  }

  /**
   * Waits until the page shows a state satisfying `predicate` (a function run in the page over
   * the latest `Seen`), returns the first such state.
   */
  async waitFor(what: string, predicate: string, timeoutMs = 15_000): Promise<Seen> {
    try {
      await this.page.waitForFunction(
        (body) => {
          const test = new Function('s', `return (${body});`) as (s: Seen) => boolean;
          return window.__seen.some((s) => test(s));
        },
        predicate,
        { timeout: timeoutMs, polling: 50 },
      );
    } catch (error) {
      const seen = await this.seen().catch(() => []);
      throw new Error(`page never showed ${what} within ${timeoutMs} ms; last seen: ${JSON.stringify(seen.slice(-3))}`, { cause: error });
    }
    const seen = await this.seen();
    const test = new Function('s', `return (${predicate});`) as (s: Seen) => boolean;
    return seen.find((s) => test(s))!;
  }

  /** Waits for the message `message` on the card; returns when it first appeared. */
  waitForMessage(message: string, timeoutMs?: number): Promise<Seen> {
    return this.waitFor(`message "${message}"`, `s.message === ${JSON.stringify(message)}`, timeoutMs);
  }

  /** Waits until the connection badge shows `state` (after any earlier state). */
  async waitForConnection(state: string, timeoutMs = 15_000, after = 0): Promise<Seen> {
    return this.waitFor(`connection ${state}`, `s.connection === ${JSON.stringify(state)} && s.at >= ${after}`, timeoutMs);
  }

  async current(): Promise<Seen> {
    const seen = await this.seen();
    return seen[seen.length - 1]!;
  }

  completions(): Promise<number> {
    return this.page.evaluate(() => document.querySelectorAll('[data-testid="completion"]').length);
  }

  /** How many tasks' completion notices this page has shown since it loaded (each notice leaves after a few seconds). */
  completionsShown(): Promise<number> {
    return this.page.evaluate(() => window.__completionTasks.size);
  }
}

/** A browser context (its own storage, Web Locks and BroadcastChannel) with the recorder installed. */
export async function newContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext();
  await context.addInitScript(recorder);
  return context;
}
