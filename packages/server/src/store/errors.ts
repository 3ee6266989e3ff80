/**
 * Errors of the storage layer, in its own terms: the store never throws an HTTP error. The HTTP
 * layer (`http/errors.ts`) maps each kind to its answer. Faults of the disk or the database
 * (`StorageUnavailableError` and the engines' own errors) are recognized in `faults.ts`.
 */

/** What a caller asked that the store cannot do. */
export type StorageErrorKind =
  /** A page cursor this store did not hand out, or one of another sort order. */
  | 'invalid_cursor';

export class StorageError extends Error {
  readonly kind: StorageErrorKind;
  /** The input that was wrong (`'cursor'`), for the caller's error details. */
  readonly field: string;
  constructor(kind: StorageErrorKind, message: string, field: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageError';
    this.kind = kind;
    this.field = field;
  }
}
