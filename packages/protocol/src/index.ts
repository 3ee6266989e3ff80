export * from './constants.ts';
export * from './errors.ts';
export * from './limits.ts';
export * from './schemas.ts';
export * from './percent.ts';
