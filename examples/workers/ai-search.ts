/**
 * An "AI search" in four weighted stages: plan the queries, search the sources, rank the hits,
 * write the answer token by token. Every wait honours `ctx.signal`, so a cancel stops it at once.
 */
import type { CreateTaskOptions, Handler, StageSpec } from '@taskpulse/worker';
import { between, delay } from './util.ts';

export const AI_SEARCH_TYPE = 'ai-search';

/** Weights: searching and writing dominate the wall time, so they dominate the percent. */
export const AI_SEARCH_STAGES: StageSpec[] = [
  { key: 'plan', label: 'Planning queries', weight: 1 },
  { key: 'search', label: 'Searching sources', weight: 4 },
  { key: 'rank', label: 'Ranking results', weight: 1 },
  { key: 'answer', label: 'Writing the answer', weight: 3 },
];

export interface AiSearchInput {
  query: string;
  /** Sources to search. @defaultValue 8 */
  sources?: number;
  /** Scales every wait (0 = as fast as possible, for tests). @defaultValue 1 */
  speed?: number;
}

export function aiSearchTask(owner: string, query = 'best hiking trails near Lyon'): CreateTaskOptions {
  return { type: AI_SEARCH_TYPE, owner, input: { query } satisfies AiSearchInput, stages: AI_SEARCH_STAGES, tags: ['demo'] };
}

export const aiSearchHandler: Handler = async (task, ctx) => {
  const input = (task.input ?? {}) as AiSearchInput;
  const sources = input.sources ?? 8;
  const k = input.speed ?? 1;
  const { signal } = ctx;

  ctx.stage('plan');
  ctx.progress(0, 1, 'Breaking the question into queries');
  await delay(400 * k, signal);
  const queries = [`${input.query}`, `${input.query} reviews`, `${input.query} 2026`];
  ctx.log('info', `planned ${queries.length} queries`);
  ctx.progress(1, 1);

  ctx.stage('search');
  const hits: string[] = [];
  for (let i = 1; i <= sources; i++) {
    await delay(between(150, 500) * k, signal);
    hits.push(...Array.from({ length: between(2, 6) }, (_, j) => `source-${i}/hit-${j}`));
    ctx.progress(i, sources, `Searched ${i} of ${sources} sources (${hits.length} hits)`);
  }

  ctx.stage('rank');
  ctx.progress(0, hits.length, 'Ranking');
  for (let i = 1; i <= hits.length; i++) {
    if (i % 10 === 0) await delay(30 * k, signal);
    ctx.progress(i, hits.length);
  }

  ctx.stage('answer');
  const tokens = 120;
  for (let t = 1; t <= tokens; t++) {
    await delay(15 * k, signal);
    ctx.progress(t, tokens, 'Writing the answer');
  }
  ctx.setMetadata({ hits: hits.length });
  return { answer: `Top pick for "${input.query}": ${hits[0] ?? 'nothing found'}`, sources, hits: hits.length };
};
