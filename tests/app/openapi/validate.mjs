// Validates openapi.yaml with @apidevtools/swagger-parser: the document
// against the OpenAPI 3.0 schema, every $ref resolved, then dereferenced.
// Past that it checks what makes the contract typed: every request and
// JSON response body has a schema, and none is a bare {type: object}
// (an object names its properties, its additionalProperties, or its
// alternatives).
//
// Usage: node validate.mjs OPENAPI_YAML, from a directory where
// package.json's modules are installed (run_validate.sh does that).

import SwaggerParser from '@apidevtools/swagger-parser';

const file = process.argv[2];
const problems = [];

const isJson = (mt) => {
  const t = mt.split(';')[0].trim().toLowerCase();
  return t === 'application/json' || t.endsWith('+json');
};

/// A schema that says nothing of an object's shape.
const bare = (s) =>
  s && s.type === 'object' && !s.properties && s.additionalProperties === undefined
  && !s.oneOf && !s.anyOf && !s.allOf;

try {
  await SwaggerParser.validate(file);
  const api = await SwaggerParser.dereference(file);
  let bodies = 0;
  for (const [path, item] of Object.entries(api.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'put', 'post', 'patch', 'delete', 'options', 'head'].includes(method))
        continue;
      const where = `${method.toUpperCase()} ${path}`;
      for (const [mt, media] of Object.entries(op.requestBody?.content ?? {})) {
        ++bodies;
        if (!media.schema)
          problems.push(`${where}: request ${mt} has no schema`);
        else if (bare(media.schema))
          problems.push(`${where}: request ${mt} is a bare object`);
      }
      for (const [status, resp] of Object.entries(op.responses ?? {})) {
        for (const [mt, media] of Object.entries(resp.content ?? {})) {
          if (!isJson(mt))
            continue;
          ++bodies;
          if (!media.schema)
            problems.push(`${where} ${status}: ${mt} has no schema`);
          else if (bare(media.schema))
            problems.push(`${where} ${status}: ${mt} is a bare object`);
        }
      }
    }
  }
  for (const p of problems)
    console.log(`NOT TYPED ${p}`);
  console.log(`${api.info.title} ${api.info.version}: valid OpenAPI ${api.openapi}, `
              + `${Object.keys(api.paths).length} paths, ${bodies} bodies, `
              + `${problems.length} untyped`);
  process.exit(problems.length ? 1 : 0);
} catch (e) {
  console.log(`INVALID ${file}: ${e.message}`);
  process.exit(1);
}
