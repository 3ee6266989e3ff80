export * from './constants.ts';
export * from './errors.ts';
export * from './error-body.ts';
export * from './limits.ts';
export * from './schemas.ts';
export * from './percent.ts';
export * from './retry.ts';
export * from './frames.ts';
