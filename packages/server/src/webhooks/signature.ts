import { createHmac, timingSafeEqual } from 'node:crypto';

/** `x-taskpulse-signature`: hex HMAC-SHA256 of the exact request body with the webhook's secret. */
export function sign(secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** For receivers: checks a signature in constant time. */
export function verify(secret: string, body: string, signature: string): boolean {
  const expected = Buffer.from(sign(secret, body), 'hex');
  const given = Buffer.from(signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
