// Extra webpack settings for build-labextension (package.json jupyterlab.webpackConfig).
// The renderer's chunk carries every view (uPlot and markdown-it included), about 270 KB;
// it loads once per page, so webpack's 244 KiB advice is not a problem here.
module.exports = { performance: { hints: false } };
