// Worker entry used only when sluice itself runs from its TypeScript sources (tests, tsx):
// Node 20 does not apply the parent's --import loader hooks to a worker's entry module, so
// register tsx here, then load the real entry. The built package uses dist/runtime/worker/main.js.
const { register } = await import('tsx/esm/api');
register();
await import(new URL('./main.ts', import.meta.url).href);
