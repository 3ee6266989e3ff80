import { describe, expect, it } from 'vitest';
import { parseErrorBody } from '../src/error-body.ts';
import {
  eventFrame, heartbeatFrame, isEventFrame, parseEvent, parseHeartbeat, parseReset, parseSnapshot, resetFrame, retryFrame, snapshotFrame, STREAM_FRAME_TYPES,
} from '../src/frames.ts';
import { TaskPulseError } from '../src/errors.ts';

/** The `event:` name and `data:` of one frame as a reader sees it. */
function split(frame: string): { event?: string; id?: string; data?: string } {
  expect(frame.endsWith('\n\n')).toBe(true);
  const fields: Record<string, string> = {};
  for (const line of frame.trimEnd().split('\n')) {
    const i = line.indexOf(': ');
    fields[line.slice(0, i)] = line.slice(i + 2);
  }
  return fields;
}

describe('frames: written and read in one place', () => {
  it('a heartbeat carries {head, last} and reads back', () => {
    const f = split(heartbeatFrame(42, 40));
    expect(f).toMatchObject({ event: 'heartbeat', id: '42' });
    expect(parseHeartbeat(f.data!)).toEqual({ head: 42, last: 40 });
    // Another server may leave `last` out.
    expect(parseHeartbeat('{"head":7}')).toEqual({ head: 7, last: undefined });
  });

  it('reset and snapshot read back', () => {
    const r = split(resetFrame(9, 'cursor_ahead'));
    expect(r).toMatchObject({ event: 'reset', id: '9' });
    expect(parseReset(r.data!)).toEqual({ head: 9, reason: 'cursor_ahead' });
    const s = split(snapshotFrame({ head: 9, tasks: [] }));
    expect(s).toMatchObject({ event: 'snapshot', id: '9' });
    expect(parseSnapshot(s.data!)).toEqual({ head: 9, tasks: [] });
    expect(retryFrame(1000)).toBe('retry: 1000\n\n');
  });

  it('an event frame is the stored JSON under its seq and type', () => {
    const f = split(eventFrame(3, 'task.updated', '{"seq":3,"type":"task.updated"}'));
    expect(f).toMatchObject({ id: '3', event: 'task.updated' });
    expect(parseEvent(f.data!).seq).toBe(3);
    expect(isEventFrame('task.updated') && isEventFrame('notification.read') && !isEventFrame('heartbeat')).toBe(true);
    expect(STREAM_FRAME_TYPES).toContain('notification.created');
  });

  it('refuses frames it cannot trust (the reader then resumes from its cursor)', () => {
    expect(() => parseHeartbeat('{"head":"x"}')).toThrow(TypeError);
    expect(() => parseHeartbeat('not json')).toThrow(SyntaxError);
    expect(() => parseSnapshot('{"head":1}')).toThrow(TypeError);
    expect(() => parseEvent('{"type":"task.updated"}')).toThrow(TypeError);
    expect(() => parseEvent('null')).toThrow(TypeError);
  });
});

describe('error body', () => {
  it('reads the envelope the server writes, from text or JSON', () => {
    const body = new TaskPulseError('lease_lost', 'gone', { taskId: 't' }).toBody();
    expect(parseErrorBody(JSON.stringify(body))).toEqual({ code: 'lease_lost', message: 'gone', details: { taskId: 't' } });
    expect(parseErrorBody(body)).toEqual({ code: 'lease_lost', message: 'gone', details: { taskId: 't' } });
  });

  it('anything else is {}: HTML from a proxy, empty, wrong types', () => {
    expect(parseErrorBody('<html>502</html>')).toEqual({});
    expect(parseErrorBody('')).toEqual({});
    expect(parseErrorBody(null)).toEqual({});
    expect(parseErrorBody('{"error":{"code":5,"message":"m","details":[1]}}')).toEqual({ message: 'm' });
  });
});
