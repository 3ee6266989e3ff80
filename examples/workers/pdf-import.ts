/**
 * A PDF import with page and chunk progress: download (bytes), parse (pages), embed (chunks of
 * every page), index. The chunk stage's total is only known after parsing, which is exactly
 * when it is reported.
 */
import type { CreateTaskOptions, Handler, StageSpec } from '@taskpulse/worker';
import { UnrecoverableError } from '@taskpulse/worker';
import { between, delay } from './util.ts';

export const PDF_IMPORT_TYPE = 'pdf-import';

export const PDF_IMPORT_STAGES: StageSpec[] = [
  { key: 'download', label: 'Downloading', weight: 1 },
  { key: 'parse', label: 'Parsing pages', weight: 3 },
  { key: 'embed', label: 'Embedding chunks', weight: 5 },
  { key: 'index', label: 'Indexing', weight: 1 },
];

export interface PdfImportInput {
  file: string;
  pages?: number;
  /** Scales every wait (0 = as fast as possible). @defaultValue 1 */
  speed?: number;
}

export function pdfImportTask(owner: string, file = 'annual-report-2025.pdf', pages = between(8, 40)): CreateTaskOptions {
  return { type: PDF_IMPORT_TYPE, owner, input: { file, pages } satisfies PdfImportInput, stages: PDF_IMPORT_STAGES, tags: ['demo'] };
}

export const pdfImportHandler: Handler = async (task, ctx) => {
  const input = (task.input ?? {}) as PdfImportInput;
  if (!input.file) throw new UnrecoverableError('input.file is required', { taskCode: 'invalid_input' });
  const pages = input.pages ?? 12;
  const k = input.speed ?? 1;
  const { signal } = ctx;

  ctx.stage('download');
  const bytes = pages * 180_000;
  for (let got = 0; got < bytes; ) {
    await delay(50 * k, signal);
    got = Math.min(bytes, got + 400_000);
    ctx.progress(got, bytes, `Downloaded ${(got / 1e6).toFixed(1)} of ${(bytes / 1e6).toFixed(1)} MB`);
  }

  ctx.stage('parse');
  const chunksPerPage: number[] = [];
  for (let p = 1; p <= pages; p++) {
    await delay(between(40, 120) * k, signal);
    chunksPerPage.push(between(3, 9));
    ctx.progress(p, pages, `Page ${p}/${pages}`);
  }

  ctx.stage('embed');
  const chunks = chunksPerPage.reduce((a, b) => a + b, 0);
  ctx.log('info', `${pages} pages → ${chunks} chunks`);
  let done = 0;
  for (let p = 1; p <= pages; p++) {
    for (let c = 1; c <= chunksPerPage[p - 1]!; c++) {
      await delay(10 * k, signal);
      ctx.progress(++done, chunks, `Page ${p}/${pages}, chunk ${c}/${chunksPerPage[p - 1]}`);
    }
  }

  ctx.stage('index');
  await delay(300 * k, signal);
  ctx.progress(1, 1, 'Indexed');
  return { file: input.file, pages, chunks };
};
