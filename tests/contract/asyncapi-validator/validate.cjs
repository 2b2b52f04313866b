// Validate AsyncAPI documents with the official tools: the JSON Schema of the specification
// (@asyncapi/specs, checked with ajv) and the official parser (@asyncapi/parser: the same
// schema plus references, payload schemas and its own rules).
//
//   node validate.cjs <node_modules parent> <document.json>...
//
// Prints one JSON report {file: {version, schema_errors, parser_errors, parser_warnings}} and
// exits 1 when any document has an error.
"use strict";

const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

async function main() {
  const [modulesDir, ...files] = process.argv.slice(2);
  if (!modulesDir || files.length === 0) {
    console.error("usage: node validate.cjs <node_modules parent> <document.json>...");
    process.exit(2);
  }
  const load = createRequire(path.join(path.resolve(modulesDir), "package.json"));
  const { Parser, DiagnosticSeverity } = load("@asyncapi/parser");
  const specs = load("@asyncapi/specs");
  const Ajv = load("ajv");
  const addFormats = load("ajv-formats");

  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const parser = new Parser();
  const report = {};
  let failed = false;
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    const version = JSON.parse(text).asyncapi;
    const schema = officialSchema(specs, version);
    const entry = { version, schema_errors: [], parser_errors: [], parser_warnings: [] };
    if (!schema) {
      entry.schema_errors.push(`no official schema for AsyncAPI ${version}`);
    } else {
      const validate = ajv.getSchema(schema.$id) || ajv.compile(schema);
      if (!validate(JSON.parse(text))) {
        entry.schema_errors = validate.errors.map(
          (e) => `${e.instancePath || "/"} ${e.message} ${JSON.stringify(e.params)}`
        );
      }
    }
    const diagnostics = await parser.validate(text, { source: path.resolve(file) });
    for (const d of diagnostics) {
      const line = `${d.code}: ${d.message} at /${(d.path || []).join("/")}`;
      if (d.severity === DiagnosticSeverity.Error) entry.parser_errors.push(line);
      else if (d.severity === DiagnosticSeverity.Warning) entry.parser_warnings.push(line);
    }
    failed = failed || entry.schema_errors.length > 0 || entry.parser_errors.length > 0;
    report[file] = entry;
  }
  process.stdout.write(JSON.stringify(report, null, 2) + "\n");
  process.exit(failed ? 1 : 0);
}

// The specification's schema as published, less the JSON Schema meta-schemas it bundles: ajv
// has draft-07 built in and refuses a second copy (the parser does the same).
function officialSchema(specs, version) {
  const published = specs.schemas[version];
  if (!published) return undefined;
  const schema = JSON.parse(JSON.stringify(published));
  delete schema.definitions["http://json-schema.org/draft-07/schema"];
  delete schema.definitions["http://json-schema.org/draft-04/schema"];
  return schema;
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(2);
});
