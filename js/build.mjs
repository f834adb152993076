// Bundle the widget views and the channel client into nbchannel/static/widgets.js: one ES
// module with its npm dependencies inside, loaded by anywidget, so the wheel needs no node.
// The hub's status page (src/status.js) is bundled alongside into nbchannel/static/status.js.
//
//   node build.mjs                 minified bundle (what `npm run build` and the wheel use)
//   node build.mjs --dev           readable bundle
//   node build.mjs --entry FILE    bundle another entry point (also NBCHANNEL_JS_ENTRY=FILE,
//                                  which reaches the build run by `pip install`)
//   node build.mjs --outfile FILE  write elsewhere

import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    dev: { type: "boolean", default: false },
    entry: { type: "string", default: process.env.NBCHANNEL_JS_ENTRY || resolve(here, "src/index.js") },
    outfile: { type: "string", default: resolve(here, "../nbchannel/static/widgets.js") },
  },
});

const bundles = [{ entry: values.entry, outfile: values.outfile }];
if (values.outfile === resolve(here, "../nbchannel/static/widgets.js")) {
  bundles.push({ entry: resolve(here, "src/status.js"), outfile: resolve(here, "../nbchannel/static/status.js") });
}

for (const { entry, outfile } of bundles) {
  if (!existsSync(entry)) {
    console.error(`build.mjs: entry point ${entry} does not exist`);
    process.exit(1);
  }

  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    format: "esm",
    target: "es2020",
    platform: "browser",
    minify: !values.dev,
    sourcemap: false,
    legalComments: "eof",
    // Widgets import their stylesheets as strings and inject them into the page themselves.
    loader: { ".css": "text" },
    metafile: true,
    logLevel: "warning",
  });

  const out = Object.entries(result.metafile.outputs)[0];
  console.log(`build.mjs: wrote ${outfile} (${(out[1].bytes / 1024).toFixed(1)} KiB)`);
}
