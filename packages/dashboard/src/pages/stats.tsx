/** Throughput, stage durations, queue wait, ETA accuracy, failures, bottlenecks and the browsers' delivery health. */
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useInvalidateOnEvents } from '@taskpulse/react/query';
import { useState } from 'react';
import type { EtaAccuracy } from '@taskpulse/protocol';
import type { Api, ClientHealth, History, Stats } from '../api.ts';
import { Empty, TableHead } from '../components.tsx';
import { duration, etaVerdict } from '../format.ts';

const WINDOWS = { '1h': 3_600_000, '6h': 6 * 3_600_000, '24h': 86_400_000 } as const;
type Win = keyof typeof WINDOWS;
/** Finishes within this long are gathered into one read of the figures. */
const REFRESH_MS = 5000;

export function StatsPage({ api }: { api: Api }) {
  const [win, setWin] = useState<Win>('1h');
  // Pushed, not polled: the figures change when tasks finish, so that is when they are read again
  // (finishes within 5 s are gathered into one read).
  useInvalidateOnEvents([{ queryKey: ['stats'], events: ['task.completed', 'task.failed', 'task.canceled'] }], { delayMs: REFRESH_MS });
  const query = useQuery({
    queryKey: ['stats', win],
    queryFn: async () => {
      const [stats, history, health] = await Promise.all([
        api.stats(undefined, WINDOWS[win]),
        api.history(WINDOWS[win]),
        api.clientHealth(Math.min(WINDOWS[win], 86_400_000)).catch(() => null),
      ]);
      return { stats, history, health };
    },
    placeholderData: keepPreviousData,
  });
  const data = query.data ?? null;
  const error = query.error ? query.error.message : null;

  return (
    <section aria-labelledby="stats-title">
      <div className="page-head row">
        <div>
          <h1 id="stats-title">Stats</h1>
          <p className="subtle">From the store: history survives restarts. Updated as tasks finish.</p>
        </div>
        <div className="segmented" role="group" aria-label="Window">
          {(Object.keys(WINDOWS) as Win[]).map((w) => (
            <button key={w} type="button" aria-pressed={win === w} onClick={() => setWin(w)}>
              {w}
            </button>
          ))}
        </div>
      </div>
      {error && (
        <div className="alert" role="alert">
          Could not load stats: {error}
        </div>
      )}
      {!data ? (
        <p className="subtle">Loading…</p>
      ) : (
        <>
          <Totals history={data.history} stats={data.stats} />
          <div className="stats-grid">
            <section className="card wide" aria-labelledby="tp-title">
              <h2 id="tp-title">Throughput per {data.history.bucketMs >= 120_000 ? duration(data.history.bucketMs) : 'minute'}</h2>
              <Throughput history={data.history} />
            </section>
            <section className="card" aria-labelledby="bn-title">
              <h2 id="bn-title">Bottlenecks</h2>
              {data.stats.bottlenecks.length === 0 ? (
                <p className="muted">No bottleneck stands out in this window.</p>
              ) : (
                <ul className="bottlenecks">
                  {data.stats.bottlenecks.slice(0, 6).map((b, i) => (
                    <li key={i} className={`bn bn-${b.kind}`}>
                      <div className="bn-head">
                        <strong>{b.type}</strong> {b.stage && <code>{b.stage}</code>} <span className="tag">{b.kind}</span>
                        {b.share !== null && <span className="subtle"> {Math.round(b.share * 100)}%</span>}
                      </div>
                      <p>{b.recommendation}</p>
                    </li>
                  ))}
                </ul>
              )}
            </section>
            <DeliveryHealth health={data.health} />
          </div>
          <section className="card" aria-labelledby="dist-title">
            <h2 id="dist-title">Stage durations</h2>
            <Distributions history={data.history} />
          </section>
          <EtaAccuracyCard stats={data.stats} />
          <section className="card" aria-labelledby="fail-title">
            <h2 id="fail-title">Failures by error</h2>
            {data.history.failures.length === 0 ? (
              <p className="muted">No failures in this window.</p>
            ) : (
              <div className="table-wrap">
                <table className="plain" data-testid="failures">
                  <TableHead columns={['Count', 'Type', 'Code', 'Message', 'Last seen']} />
                  <tbody>
                    {data.history.failures.map((f, i) => (
                      <tr key={i}>
                        <td className="num">{f.count}</td>
                        <td>{f.type}</td>
                        <td>
                          <code>{f.code}</code>
                        </td>
                        <td className="error-text">{f.message}</td>
                        <td>{f.lastAt.replace('T', ' ').slice(0, 19)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        </>
      )}
    </section>
  );
}

function Totals({ history, stats }: { history: History; stats: Stats }) {
  const sum = (k: 'completed' | 'failed' | 'canceled') => history.throughput.reduce((a, b) => a + b[k], 0);
  const running = stats.types.reduce((a, t) => a + t.running, 0);
  const queued = stats.types.reduce((a, t) => a + t.queued, 0);
  const done = sum('completed');
  const failed = sum('failed');
  const rate = done + failed > 0 ? Math.round((failed / (done + failed)) * 1000) / 10 : null;
  return (
    <div className="totals">
      <Kpi label="Running now" value={String(running)} />
      <Kpi label="Queued now" value={String(queued)} />
      <Kpi label="Completed" value={String(done)} />
      <Kpi label="Failed" value={String(failed)} tone={failed > 0 ? 'bad' : undefined} />
      <Kpi label="Failure rate" value={rate === null ? '—' : `${rate}%`} tone={rate !== null && rate > 5 ? 'bad' : undefined} />
    </div>
  );
}

function Kpi({ label, value, tone }: { label: string; value: string; tone?: 'bad' }) {
  return (
    <div className={`kpi ${tone ?? ''}`}>
      <div className="kpi-value">{value}</div>
      <div className="kpi-label">{label}</div>
    </div>
  );
}

/** Stacked columns: completed and failed (and canceled) per bucket. */
function Throughput({ history }: { history: History }) {
  const b = history.throughput;
  const max = Math.max(1, ...b.map((x) => x.completed + x.failed + x.canceled));
  const W = 720;
  const H = 160;
  const w = W / Math.max(1, b.length);
  const total = b.reduce((a, x) => a + x.completed + x.failed + x.canceled, 0);
  if (total === 0) return <p className="muted">Nothing finished in this window yet.</p>;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${total} tasks finished in the window; at most ${max} in one bucket`} preserveAspectRatio="none">
        {[0.5, 1].map((f) => (
          <line key={f} x1={0} x2={W} y1={H - H * f} y2={H - H * f} className="grid" />
        ))}
        {b.map((x, i) => {
          const hc = (x.completed / max) * H;
          const hf = (x.failed / max) * H;
          const hx = (x.canceled / max) * H;
          return (
            <g key={x.at}>
              <title>{`${x.at.slice(11, 16)} — ${x.completed} completed, ${x.failed} failed, ${x.canceled} canceled`}</title>
              <rect x={i * w + 0.5} width={Math.max(1, w - 1)} y={H - hc} height={hc} className="c-completed" />
              <rect x={i * w + 0.5} width={Math.max(1, w - 1)} y={H - hc - hf} height={hf} className="c-failed" />
              <rect x={i * w + 0.5} width={Math.max(1, w - 1)} y={H - hc - hf - hx} height={hx} className="c-canceled" />
            </g>
          );
        })}
      </svg>
      {/* Outside the SVG: it stretches to the width, text in it would stretch too. */}
      <div className="axis-row" aria-hidden="true">
        <span>{b[0]?.at.slice(11, 16)}</span>
        <span>now</span>
      </div>
      <figcaption className="legend">
        <span className="nowrap">
          <span className="key c-completed" /> completed
        </span>{' '}
        <span className="nowrap">
          <span className="key c-failed" /> failed
        </span>{' '}
        <span className="nowrap">
          <span className="key c-canceled" /> canceled
        </span>{' '}
        · <span className="nowrap">at most {max} in one {history.bucketMs >= 120_000 ? duration(history.bucketMs) : 'minute'}</span>
      </figcaption>
    </figure>
  );
}

function stageName(s: string): string {
  return s === '*' ? 'whole run' : s === '~queue' ? 'queue wait' : s;
}

function Distributions({ history }: { history: History }) {
  if (history.distributions.length === 0) return <p className="muted">No stage has finished in this window yet.</p>;
  return (
    <div className="table-wrap">
      <table className="plain dist" data-testid="distributions">
        <TableHead columns={['Type', 'Stage', '#Runs', '#Median', '#p90', 'Histogram']} />
        <tbody>
          {history.distributions.map((d) => {
            const max = Math.max(1, ...d.histogram.map((h) => h.count));
            return (
              <tr key={`${d.type}/${d.stage}`} className={d.stage === '~queue' ? 'queue-row' : ''}>
                <td>{d.type}</td>
                <td>{stageName(d.stage)}</td>
                <td className="num">{d.count}</td>
                <td className="num">{duration(d.medianMs)}</td>
                <td className="num">{duration(d.p90Ms)}</td>
                <td>
                  <div className="histo" role="img" aria-label={d.histogram.map((h) => `${h.count} ${h.leMs === null ? 'longer' : `up to ${duration(h.leMs)}`}`).join(', ')}>
                    {d.histogram.map((h, i) => (
                      <span key={i} className="histo-bar" style={{ height: `${Math.max(h.count ? 8 : 2, (h.count / max) * 100)}%` }} title={`${h.count} ${h.leMs === null ? 'longer' : `≤ ${duration(h.leMs)}`}`} />
                    ))}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function DeliveryHealth({ health }: { health: ClientHealth | null }) {
  return (
    <section className="card" aria-labelledby="dh-title">
      <h2 id="dh-title">Are users' screens fresh?</h2>
      {!health || health.reports === 0 ? (
        <p className="muted">No browser has reported yet (each open page reports once a minute).</p>
      ) : (
        <>
          <div className="share-bar" role="img" aria-label={`live ${pct(health.liveShare)}, polling ${pct(health.pollingShare)}, offline ${pct(health.offlineShare)}`}>
            <span className="live" style={{ width: pct(health.liveShare) }} />
            <span className="polling" style={{ width: pct(health.pollingShare) }} />
            <span className="offline" style={{ width: pct(health.offlineShare) }} />
          </div>
          <dl className="facts">
            <dt>Live (pushed)</dt>
            <dd>{pct(health.liveShare)}</dd>
            <dt>Polling fallback</dt>
            <dd>{pct(health.pollingShare)}</dd>
            <dt>Offline</dt>
            <dd>{pct(health.offlineShare)}</dd>
            <dt>Worst staleness seen</dt>
            <dd>{duration(health.worstStalenessMs)}</dd>
            <dt>Reconnects</dt>
            <dd>{health.reconnects}</dd>
            <dt>Reports</dt>
            <dd>{health.reports}</dd>
          </dl>
        </>
      )}
    </section>
  );
}

const pct = (x: number | null) => (x === null ? '—' : `${Math.round(x * 1000) / 10}%`);

/**
 * Whether to trust the ETA on this workload: how far what it said along the way was from what
 * happened, per type, over the window (`eta` of `/v1/stats`, docs/server.md "Calibration").
 */
function EtaAccuracyCard({ stats }: { stats: Stats }) {
  const rows = stats.types.filter((t): t is typeof t & { eta: EtaAccuracy } => t.eta !== null && t.eta.tasks > 0);
  return (
    <section className="card" aria-labelledby="eta-title">
      <h2 id="eta-title">Can you trust the ETA?</h2>
      <p className="subtle eta-note">
        What the ETA said along the way against what happened, on tasks that completed in this window. Error is |shown − true
        remaining| as a share of the true remaining time; the band is the ETA's low–high range.
      </p>
      {rows.length === 0 ? (
        <p className="muted">No completed task has been scored in this window yet.</p>
      ) : (
        <div className="table-wrap">
          <table className="plain eta-acc" data-testid="eta-accuracy">
            <TableHead columns={['Type', 'Verdict', '#Tasks', '#Error at 50%', '#At 10 · 25 · 50 · 75 · 90%', '#Truth in band', '#Band width', '#No ETA']} />
            <tbody>
              {rows.map((t) => {
                const v = etaVerdict(t.eta);
                return (
                  // data-label: on a phone each row is a small card of labelled figures (styles.css).
                  <tr key={t.type} className={v.tone === 'none' ? 'eta-few' : undefined}>
                    <td className="eta-type">{t.type}</td>
                    <td className="eta-verdict">
                      <span className={`tag verdict verdict-${v.tone}`} title={v.why}>
                        {v.label}
                      </span>
                    </td>
                    <td className="num" data-label="Tasks scored">
                      {t.eta.tasks}
                    </td>
                    <td className="num strong" data-label="Error at 50%">
                      {pct(t.eta.medianErrorAt50)}
                    </td>
                    <td className="num nowrap" data-label="Error at 10…90%">
                      {t.eta.checkpoints.map((c) => (c.medianError === null ? '—' : Math.round(c.medianError * 100))).join(' · ')}
                    </td>
                    <td className="num" data-label="Truth in band">
                      {pct(t.eta.bandCoverage)}
                    </td>
                    <td className="num" data-label="Band width">
                      {t.eta.bandWidth === null ? '—' : `${(Math.round(t.eta.bandWidth * 100) / 100).toFixed(2)}×`}
                    </td>
                    <td className="num" data-label="No ETA">
                      {pct(t.eta.noEta)}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
