/**
 * TaskPulse without a framework: a task's live bar, stage, message, ETA, the connection state,
 * and a completion toast shown once (one tab, not again after F5). DOM only, on
 * `@taskpulse/client`.
 */
import { createClient, type Task, type TaskPulseClient } from '@taskpulse/client';
import { addNotice, clearMore, dismissNotice, EMPTY_NOTICES, expireNotices, NOTICE_RULES, type NoticeState } from '@taskpulse/client/notices';
import { clientOptions, ConfigError, type PageGlobals, readConfig } from '../shared/config.ts';
import { CONNECTION_LABELS, formatEta, formatIdTime, formatPercent, formatStage, formatStatus, remainingMs } from '../shared/format.ts';
import { loadLastSeen, newest, saveLastSeen } from '../shared/last-seen.ts';
import { fitNotices, moreText, narrowNotices } from '../shared/notices.ts';

declare global {
  interface Window {
    TASKPULSE?: PageGlobals;
    /** The page's client, for debugging in the console (`taskpulse.diagnostics()`). */
    taskpulse?: TaskPulseClient;
  }
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text = ''): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

/** One task's card; `update` rewrites only what changed. */
class TaskCard {
  readonly root = el('article', { class: 'task', 'data-testid': 'task' });
  #title = el('h2');
  #type = el('span');
  #status = el('span', { 'data-testid': 'status' });
  #meta = el('div', { class: 'meta', 'data-testid': 'id-time' });
  #bar = el('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': '100', 'data-testid': 'bar' });
  #fill = el('div', { class: 'fill' });
  #percent = el('span', { 'data-testid': 'percent' });
  #stage = el('span', { 'data-testid': 'stage' });
  #message = el('span', { 'data-testid': 'message' });
  #eta = el('span', { 'data-testid': 'eta' });
  #task: Task | null = null;
  #receivedAt = 0;

  constructor() {
    this.#title.append(this.#type, this.#status);
    this.#bar.append(this.#fill);
    const details = el('div', { class: 'details' });
    details.append(this.#percent, this.#stage, this.#message, this.#eta);
    this.root.append(this.#title, this.#meta, this.#bar, details);
  }

  update(task: Task, source: 'live' | 'cache'): void {
    this.root.dataset.source = source;
    if (task === this.#task) return;
    this.#task = task;
    this.#receivedAt = performance.now();
    const percent = task.status === 'completed' ? 100 : task.progress.percent;
    this.root.dataset.taskId = task.id;
    this.root.dataset.status = task.status;
    this.#type.textContent = task.type;
    this.#status.textContent = formatStatus(task);
    this.#meta.textContent = formatIdTime(task);
    this.#meta.title = task.id;
    this.#bar.dataset.percent = percent === null ? '' : String(percent);
    this.#bar.setAttribute('aria-valuenow', percent === null ? '0' : String(percent));
    this.#fill.style.width = `${percent ?? 0}%`;
    this.#percent.textContent = formatPercent(percent);
    this.#stage.textContent = formatStage(task);
    this.#message.textContent = task.error?.message ?? task.message ?? '';
    this.tick();
  }

  /** Counts the ETA down between events. */
  tick(): void {
    if (this.#task) this.#eta.textContent = formatEta(remainingMs(this.#task, this.#receivedAt, performance.now()));
  }
}

/**
 * Completion notices: at most 3 on screen (one on a narrow screen), each removed after a few
 * seconds, the rest counted in the newest one's "N more finished" line (the rule lives in
 * @taskpulse/client; this draws it).
 */
class Notices {
  #state: NoticeState = EMPTY_NOTICES;
  #timer: ReturnType<typeof setTimeout> | null = null;
  constructor(readonly container: HTMLElement) {
    // Turning a wide window narrow folds the notices on screen at once.
    narrowNotices?.addEventListener('change', () => this.#set(this.#state));
  }

  add(n: { id: string; title: string; body: string; kind: 'completed' | 'failed' | 'canceled'; taskId: string }): void {
    this.#set(addNotice(this.#state, n, Date.now()));
  }

  #set(changed: NoticeState): void {
    const next = fitNotices(changed);
    if (next === this.#state) return;
    this.#state = next;
    this.#render();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (next.visible.length > 0) {
      const due = Math.min(...next.visible.map((v) => v.shownAt)) + NOTICE_RULES.ttlMs;
      this.#timer = setTimeout(() => this.#set(expireNotices(this.#state, Date.now())), Math.max(50, due - Date.now()));
    }
  }

  #box(onDismiss: () => void, attrs: Record<string, string> = {}): HTMLElement {
    const toast = el('div', { class: 'toast', role: 'status', ...attrs });
    const close = el('button', { 'aria-label': 'Dismiss' }, '×');
    close.addEventListener('click', onDismiss);
    toast.append(close);
    return toast;
  }

  #render(): void {
    const { visible, more } = this.#state;
    const nodes: HTMLElement[] = visible.map((n) => {
      const toast = this.#box(() => this.#set(dismissNotice(this.#state, n.id)), { 'data-testid': 'completion', 'data-task-id': n.taskId, 'data-kind': n.kind });
      toast.append(el('strong', {}, n.title), el('span', { class: 'body' }, n.body));
      return toast;
    });
    if (more > 0) {
      const box = nodes.at(-1) ?? this.#box(() => this.#set(clearMore(this.#state)));
      box.append(el('span', { class: 'more', 'data-testid': 'more-finished' }, moreText(more, false)));
      if (nodes.length === 0) nodes.push(box);
    }
    this.container.replaceChildren(...nodes);
  }
}

function start(): void {
  const app = document.getElementById('app')!;
  const header = el('header');
  const connection = el('span', { class: 'connection', 'data-testid': 'connection', 'data-state': 'connecting' }, CONNECTION_LABELS.connecting);
  header.append(el('h1', {}, 'TaskPulse — no framework'), connection);
  const list = el('section', { 'data-testid': 'tasks' });
  const toasts = el('div', { class: 'toasts', 'aria-live': 'polite' });
  app.append(header, list, toasts);

  let config;
  try {
    config = readConfig(location.search, location.origin, window.TASKPULSE);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    list.append(el('p', { class: 'error', 'data-testid': 'error' }, error.message));
    return;
  }

  const cards = new Map<string, TaskCard>();
  const card = (id: string) => {
    let c = cards.get(id);
    if (c === undefined) cards.set(id, (c = new TaskCard()));
    return c;
  };

  // First paint after F5: the bar where this tab last saw it, before any request.
  const remembered = config.taskId === undefined ? undefined : loadLastSeen(config.taskId);
  if (remembered !== undefined) {
    const c = card(remembered.id);
    c.update(remembered, 'cache');
    list.append(c.root);
  }

  const client = createClient(clientOptions(config));
  window.taskpulse = client;

  const showConnection = () => {
    const { state, reason } = client.connection.getSnapshot();
    connection.dataset.state = state;
    connection.title = `reason: ${reason}`;
    connection.textContent = CONNECTION_LABELS[state];
  };
  client.connection.subscribe(showConnection);
  showConnection();

  // Exactly once per completed task across tabs and reloads (the server's inbox decides).
  const notices = new Notices(toasts);
  client.notifications.onNotification((n) => notices.add(n));

  if (config.taskId !== undefined) {
    const id = config.taskId;
    const view = client.watchTask(id);
    const render = () => {
      const { task, loading, error } = view.getSnapshot();
      const shown = newest(task, remembered);
      if (error && !shown) {
        list.replaceChildren(el('p', { class: 'error', 'data-testid': 'error' }, error.code === 'not_found' ? `Task ${id} not found.` : `Could not load the task (${error.code}).`));
        return;
      }
      if (!shown) {
        if (loading) list.replaceChildren(el('p', { class: 'empty' }, 'Loading…'));
        return;
      }
      const c = card(id);
      c.update(shown, task === undefined ? 'cache' : 'live');
      if (task !== undefined) saveLastSeen(task);
      if (c.root.parentNode !== list) list.replaceChildren(c.root);
    };
    view.subscribe(render);
    render();
  } else {
    const view = client.watchTasks({ limit: 20 });
    const render = () => {
      const { tasks, loading, error } = view.getSnapshot();
      if (error && tasks.length === 0) {
        list.replaceChildren(el('p', { class: 'error', 'data-testid': 'error' }, `Could not load tasks (${error.code}).`));
        return;
      }
      if (tasks.length === 0) {
        list.replaceChildren(el('p', { class: 'empty' }, loading ? 'Loading…' : 'No tasks yet.'));
        return;
      }
      const nodes = tasks.map((t) => {
        const c = card(t.id);
        c.update(t, 'live');
        return c.root;
      });
      list.replaceChildren(...nodes);
    };
    view.subscribe(render);
    render();
  }

  setInterval(() => {
    for (const c of cards.values()) c.tick();
  }, 1000);
}

start();
