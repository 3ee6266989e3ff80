/** The `settings` sub-store on every engine. */
import { expect, it } from 'vitest';
import { describeStores } from './engines.ts';

describeStores('store settings', (engine) => {
  it('keeps the first value stored, also when two instances race to store one', async () => {
    const e = engine();
    const a = await e.open();
    const b = e.shared ? await e.open() : a; // another instance where the engine has several
    expect(await a.settings.get('secret')).toBeNull();
    // Two instances racing to store a generated secret agree on one value.
    const values = await Promise.all([a.settings.setIfAbsent('secret', 'from-a'), b.settings.setIfAbsent('secret', 'from-b')]);
    expect(values[0]).toBe(values[1]);
    expect(await b.settings.get('secret')).toBe(values[0]);
    await a.close();
    expect(await (await e.open()).settings.get('secret')).toBe(values[0]);
  });
});
