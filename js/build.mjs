// Bundle the widget views and the channel client into nbchannel/static/widgets.js: one ES
// module with its npm dependencies inside, loaded by anywidget, so the wheel needs no node.
// The hub's status page (src/status.js) is bundled alongside into nbchannel/static/status.js,
// and the widgets' small `_esm` (src/loader.js, which loads widgets.js once per page) into
// nbchannel/static/loader.js.
// Then the JupyterLab extension (labextension/: the mime renderer that draws views from the
// hub) is built into nbchannel/labextension/, which the wheel installs as
// share/jupyter/labextensions/nbchannel: esbuild bundles it with the views, and
// @jupyterlab/builder's build-labextension wraps that for JupyterLab's module federation.
// Its npm dependencies live in labextension/node_modules (installed here with npm ci).
//
//   node build.mjs                 minified bundle (what `npm run build` and the wheel use)
//   node build.mjs --dev           readable bundle
//   node build.mjs --entry FILE    bundle another entry point (also NBCHANNEL_JS_ENTRY=FILE,
//                                  which reaches the build run by `pip install`)
//   node build.mjs --outfile FILE  write elsewhere (no status page, no labextension)
//   node build.mjs --labextension  build only the JupyterLab extension

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
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
    labextension: { type: "boolean", default: false },
  },
});

const defaultOutput = values.outfile === resolve(here, "../nbchannel/static/widgets.js");
const bundles = values.labextension ? [] : [{ entry: values.entry, outfile: values.outfile }];
if (defaultOutput && !values.labextension) {
  bundles.push({ entry: resolve(here, "src/status.js"), outfile: resolve(here, "../nbchannel/static/status.js") });
  // The widgets' `_esm`: a small loader of widgets.js (once per page, from the server or the kernel).
  bundles.push({ entry: resolve(here, "src/loader.js"), outfile: resolve(here, "../nbchannel/static/loader.js") });
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

if (defaultOutput || values.labextension) await buildLabextension();

/**
 * Run a command in `cwd`; exit with its status when it fails.
 * @param {string} cmd
 * @param {string[]} args
 * @param {string} cwd
 */
function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit", shell: process.platform === "win32" });
  if (r.status !== 0) {
    console.error(`build.mjs: \`${cmd} ${args.join(" ")}\` failed in ${cwd}`);
    process.exit(r.status ?? 1);
  }
}

/** The JupyterLab extension: labextension/src → labextension/lib → nbchannel/labextension. */
async function buildLabextension() {
  const dir = resolve(here, "labextension");
  // npm ci when the installed tree is missing or older than the lock file
  const lock = resolve(dir, "package-lock.json");
  const installed = resolve(dir, "node_modules/.package-lock.json");
  if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs) {
    run("npm", ["ci", "--no-audit", "--no-fund"], dir);
  }
  // One ES module with the views and the client inside; what the application provides
  // (@lumino/*) stays an import, resolved by JupyterLab's shared modules.
  const result = await esbuild.build({
    entryPoints: [resolve(dir, "src/index.js")],
    outfile: resolve(dir, "lib/index.js"),
    bundle: true,
    format: "esm",
    target: "es2020",
    platform: "browser",
    // Not minified here: webpack must read the `webpackIgnore` comments of the custom view's
    // dynamic imports (a user's module from a blob: URL), and it minifies the result itself.
    minify: false,
    legalComments: "eof",
    loader: { ".css": "text" },
    external: ["@lumino/*", "@jupyterlab/*"],
    metafile: true,
    logLevel: "warning",
  });
  const bytes = Object.values(result.metafile.outputs)[0].bytes;
  console.log(`build.mjs: wrote ${resolve(dir, "lib/index.js")} (${(bytes / 1024).toFixed(1)} KiB)`);
  const builder = resolve(dir, "node_modules/@jupyterlab/builder/lib/build-labextension.js");
  run(process.execPath, [builder, "--core-path", resolve(dir, "core"), ...(values.dev ? ["--development"] : []), dir], dir);
  // The installed extension carries the Python package's version (what `jupyter labextension
  // list` shows and `nbchannel doctor` compares).
  const out = resolve(here, "../nbchannel/labextension");
  const version = /__version__\s*=\s*["']([^"']+)["']/.exec(readFileSync(resolve(here, "../nbchannel/_version.py"), "utf8"))?.[1];
  if (version) {
    const meta = JSON.parse(readFileSync(resolve(out, "package.json"), "utf8"));
    meta.version = version;
    writeFileSync(resolve(out, "package.json"), JSON.stringify(meta, null, 2) + "\n");
  }
  console.log(`build.mjs: wrote ${out} (version ${version ?? "?"})`);
}
