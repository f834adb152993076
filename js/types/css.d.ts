// build.mjs bundles CSS imports as text (esbuild loader ".css": "text"): a widget imports
// its stylesheet as a string and injects it.
declare module "*.css" {
  const css: string;
  export default css;
}
