/**
 * Where the completion notices fit (both example pages). The rule of what is on screen is
 * `@taskpulse/client/notices`; this only says how many boxes the screen has room for: up to three
 * in the gutter beside the 44rem column on a wide screen, one at the bottom edge otherwise.
 */
import { foldNotices, type NoticeState } from '@taskpulse/client/notices';

/** No gutter beside the column for a notice: the same query as `style.css`. */
export const NARROW_NOTICES = '(width < 76rem)';

/** The media query, or null where there is none (server rendering, tests without a DOM). */
export const narrowNotices: MediaQueryList | null = typeof matchMedia === 'function' ? matchMedia(NARROW_NOTICES) : null;

/**
 * After each change of the notices: on a narrow screen only the newest stays and the others are
 * added to its "N more finished" count (kept in the state, so the count never drops by itself).
 */
export function fitNotices(s: NoticeState): NoticeState {
  return narrowNotices?.matches ? foldNotices(s, 1) : s;
}

/** The summary line, folded into the newest notice's box (pointing to the inbox where the page has one). */
export function moreText(more: number, inbox: boolean): string {
  return inbox ? `${more} more finished — see the inbox` : `${more} more finished`;
}
