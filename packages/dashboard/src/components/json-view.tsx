/** A readable, collapsible JSON tree: objects and arrays fold (the first levels start open). */
import { useState } from 'react';

const OPEN_DEPTH = 2;
const MAX_CHILDREN = 200;

export function JsonView({ value, label }: { value: unknown; label: string }) {
  const [raw, setRaw] = useState(false);
  if (value === null || value === undefined) return <p className="muted">none</p>;
  return (
    <div className="json" data-testid={`json-${label}`}>
      <div className="json-tools">
        <button type="button" className="link-button" onClick={() => setRaw(!raw)} aria-pressed={raw}>
          {raw ? 'Tree' : 'Raw'}
        </button>
        <button type="button" className="link-button" onClick={() => void navigator.clipboard?.writeText(JSON.stringify(value, null, 2)).catch(() => {})}>
          Copy
        </button>
      </div>
      {raw ? <pre className="json-raw">{JSON.stringify(value, null, 2)}</pre> : <Node value={value} depth={0} name={null} />}
    </div>
  );
}

function Node({ value, depth, name }: { value: unknown; depth: number; name: string | null }) {
  const key = name === null ? null : <span className="json-key">{name}: </span>;
  if (value === null || typeof value !== 'object') {
    return (
      <div className="json-line">
        {key}
        <Scalar value={value} />
      </div>
    );
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as Record<string, unknown>);
  const [open, close] = Array.isArray(value) ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) {
    return (
      <div className="json-line">
        {key}
        <span className="json-punct">{open + close}</span>
      </div>
    );
  }
  return (
    <details className="json-node" open={depth < OPEN_DEPTH}>
      <summary>
        {key}
        <span className="json-punct">{open}</span>
        <span className="json-count"> {entries.length} {Array.isArray(value) ? 'items' : 'keys'} </span>
        <span className="json-punct">{close}</span>
      </summary>
      <div className="json-children">
        {entries.slice(0, MAX_CHILDREN).map(([k, v]) => (
          <Node key={k} value={v} depth={depth + 1} name={k} />
        ))}
        {entries.length > MAX_CHILDREN && <div className="muted">… {entries.length - MAX_CHILDREN} more (see Raw)</div>}
      </div>
    </details>
  );
}

function Scalar({ value }: { value: unknown }) {
  if (typeof value === 'string') return <span className="json-string">"{value}"</span>;
  if (typeof value === 'number') return <span className="json-number">{String(value)}</span>;
  if (typeof value === 'boolean') return <span className="json-bool">{String(value)}</span>;
  return <span className="json-null">null</span>;
}
