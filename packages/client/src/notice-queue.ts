/**
 * Completion notices without a flood (the dashboard's and the example pages' rule): at most `max` on screen, each dismissed after `ttlMs`;
 * the rest are counted in one collapsed "N more finished" line that opens the inbox. Pure state
 * plus a clock-driven `tick`, so the rules are tested with fake time.
 */
/** A notice on screen. */
export interface Notice {
  id: string;
  title: string;
  body: string;
  kind: 'completed' | 'failed' | 'canceled';
  taskId: string;
  shownAt: number;
}

/** What is on screen. */
export interface NoticeState {
  visible: Notice[];
  /** Finished meanwhile but not shown: only counted. */
  more: number;
}

/** Nothing on screen. */
export const EMPTY_NOTICES: NoticeState = Object.freeze({ visible: [], more: 0 }) as NoticeState;

/** How many at once, and for how long (ms). */
export interface NoticeRules {
  max: number;
  ttlMs: number;
}

/** At most 3 notices, each for 6 s. */
export const NOTICE_RULES: NoticeRules = Object.freeze({ max: 3, ttlMs: 6000 });

/** A new notice: shown when there is room, else counted in `more`. */
export function addNotice(s: NoticeState, n: Omit<Notice, 'shownAt'>, nowMs: number, rules = NOTICE_RULES): NoticeState {
  if (s.visible.some((v) => v.id === n.id)) return s;
  if (s.visible.length < rules.max) return { ...s, visible: [...s.visible, { ...n, shownAt: nowMs }] };
  return { ...s, more: s.more + 1 };
}

/** Drops notices older than `ttlMs` (the "more" line stays until dismissed or the inbox is opened). */
export function expireNotices(s: NoticeState, nowMs: number, rules = NOTICE_RULES): NoticeState {
  const visible = s.visible.filter((v) => nowMs - v.shownAt < rules.ttlMs);
  return visible.length === s.visible.length ? s : { ...s, visible };
}

/** The user closed one. */
export function dismissNotice(s: NoticeState, id: string): NoticeState {
  return { ...s, visible: s.visible.filter((v) => v.id !== id) };
}

/**
 * Keeps only the newest `slots` notices on screen and adds the others to `more` — for a screen
 * with room for one notice (a phone): the newest shows, everything else is summed in its
 * "N more finished" line. Apply it to the state itself, after `addNotice`, so a notice folded away
 * stays counted after it would have expired (the count never drops by itself).
 */
export function foldNotices(s: NoticeState, slots: number): NoticeState {
  if (!Number.isInteger(slots) || slots < 0) throw new RangeError(`slots must be a non-negative integer, got ${slots}`);
  if (s.visible.length <= slots) return s;
  const cut = s.visible.length - slots;
  return { visible: s.visible.slice(cut), more: s.more + cut };
}

/** The "N more" line was opened or closed. */
export function clearMore(s: NoticeState): NoticeState {
  return s.more === 0 ? s : { ...s, more: 0 };
}
