/** Size limits of the API (API.md, Conventions). The server may be configured with other values. */
export const LIMITS = Object.freeze({
  bodyBytes: 1024 * 1024,
  resultBytes: 512 * 1024,
  inputBytes: 512 * 1024,
  metadataBytes: 16 * 1024,
  messageChars: 1000,
  tags: 20,
  tagChars: 100,
  idChars: 128,
  stages: 100,
  batchUpdates: 1000,
  jsonDepth: 32,
});
