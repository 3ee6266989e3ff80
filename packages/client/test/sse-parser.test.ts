import { describe, expect, it } from 'vitest';
import { type SseMessage, SseParser } from '../src/sse-parser.ts';

function parse(chunks: string[]): { messages: SseMessage[]; retries: number[] } {
  const messages: SseMessage[] = [];
  const retries: number[] = [];
  const p = new SseParser({ onMessage: (m) => messages.push(m), onRetry: (ms) => retries.push(ms) });
  for (const c of chunks) p.feed(c);
  return { messages, retries };
}

describe('SseParser', () => {
  it('parses id, event and data, and dispatches on a blank line', () => {
    const { messages } = parse(['id: 7\nevent: task.updated\ndata: {"seq":7}\n\n']);
    expect(messages).toEqual([{ id: '7', event: 'task.updated', data: '{"seq":7}' }]);
  });

  it('joins several data lines with \\n and defaults the event to "message"', () => {
    expect(parse(['data: a\ndata: b\n\n']).messages).toEqual([{ id: undefined, event: 'message', data: 'a\nb' }]);
  });

  it('handles any split of the input across chunks, including a \\r\\n split in two', () => {
    const text = 'retry: 1000\r\n\r\nid: 1\r\nevent: heartbeat\r\ndata: {"head":1}\r\n\r\nid: 2\rdata: x\r\r';
    const whole = parse([text]);
    for (let i = 0; i < text.length; i++) {
      expect(parse([text.slice(0, i), text.slice(i)])).toEqual(whole);
    }
    expect(parse(text.split(''))).toEqual(whole);
    expect(whole.retries).toEqual([1000]);
    expect(whole.messages.map((m) => m.id)).toEqual(['1', '2']);
  });

  it('ignores comments, unknown fields, a bad retry and an empty data buffer', () => {
    const { messages, retries } = parse([': keep-alive\nfoo: bar\nretry: soon\nevent: x\n\ndata: y\n\n']);
    expect(retries).toEqual([]);
    expect(messages).toEqual([{ id: undefined, event: 'message', data: 'y' }]);
  });

  it('strips one leading BOM and only one space after the colon', () => {
    expect(parse(['\ufeffdata:  two spaces\n\n']).messages[0]!.data).toBe(' two spaces');
    expect(parse(['data\n\n']).messages[0]!.data).toBe('');
  });

  it('keeps the last event id across messages and ignores ids with NUL', () => {
    const { messages } = parse(['id: 5\ndata: a\n\ndata: b\n\nid: 6\u0000\ndata: c\n\n']);
    expect(messages.map((m) => m.id)).toEqual(['5', '5', '5']);
  });

  it('does not dispatch a message whose blank line has not arrived yet', () => {
    expect(parse(['data: partial\n']).messages).toEqual([]);
  });
});
