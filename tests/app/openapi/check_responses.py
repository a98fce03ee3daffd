#!/usr/bin/env python3
"""Checks the answers the integration tests received against openapi.yaml.

    check_responses.py OPENAPI_YAML LOG_DIR
    check_responses.py OPENAPI_YAML --self-test

tests/support/http_client.hpp appends one JSON line per answer
({method, target, status, content_type, body}) to LOG_DIR/responses-PID.jsonl
when SWITCHBOARD_RESPONSE_LOG names LOG_DIR; ctest runs app_tests so. Each
answer is matched to its path (literal segments before {parameters}),
method and status in the document, and a JSON body is validated against
the schema of its media type (Debian's python3-jsonschema, with the
document's OpenAPI 3.0 `nullable` turned into JSON Schema). It fails,
listing every mismatch once with how often it was seen, when

  - a body does not match its schema (the schema's error and where);
  - a JSON answer has no schema: its status, or its media type, is not
    listed for the route (a route or method the document does not list
    must answer the shared Error schema, and with a 4xx status);
  - a listed JSON body came back empty, or a body is not valid JSON.

--self-test feeds it answers that are wrong on purpose (and one that is
right) and fails unless it tells each apart.
"""

import json
import os
import re
import sys
import urllib.parse

import jsonschema
import yaml

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# RFC 3339 date-time and full-date, as the daemon writes and reads them.
DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def format_checker():
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time")
    def is_date_time(value):
        return not isinstance(value, str) or DATE_TIME.match(value) is not None

    @checker.checks("date")
    def is_date(value):
        return not isinstance(value, str) or DATE.match(value) is not None

    return checker


def to_json_schema(node):
    """OpenAPI 3.0 schema objects to JSON Schema (draft 4): `nullable`
    allows null; the other OpenAPI keywords are annotations."""
    if isinstance(node, list):
        return [to_json_schema(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items()
           if k not in ("nullable", "example", "discriminator", "xml",
                        "externalDocs", "deprecated", "readOnly",
                        "writeOnly")}
    if node.get("nullable") is True:
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out and None not in out["enum"]:
                out["enum"] = list(out["enum"]) + [None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def media_type(content_type):
    return content_type.split(";")[0].strip().lower()


def is_json(mt):
    return mt == "application/json" or mt.endswith("+json")


class Contract:
    def __init__(self, doc):
        self.doc = doc
        self.components = to_json_schema(doc.get("components", {}))
        self.routes = []
        for path, item in doc.get("paths", {}).items():
            segments = path.strip("/").split("/") if path != "/" else []
            literal = sum(1 for s in segments if not s.startswith("{"))
            self.routes.append((segments, literal, path, item))
        # Literal segments win over parameters (/api/jobs/failed before
        # /api/jobs/{id}).
        self.routes.sort(key=lambda r: -r[1])
        self.checker = format_checker()
        self.validators = {}  # by the id of the document's schema object
        self.error_schema = {"$ref": "#/components/schemas/Error"}

    def resolve(self, node):
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            assert ref.startswith("#/"), ref
            target = self.doc
            for part in ref[2:].split("/"):
                target = target[part]
            node = target
        return node

    def match(self, target):
        path = urllib.parse.urlsplit(target).path
        segments = path.strip("/").split("/") if path.strip("/") else []
        for tmpl, _, name, item in self.routes:
            if len(tmpl) != len(segments):
                continue
            if all(t.startswith("{") and s != "" or t == s
                   for t, s in zip(tmpl, segments)):
                return name, item
        return None, None

    def errors(self, schema, value):
        validator = self.validators.get(id(schema))
        if validator is None:
            root = dict(to_json_schema(schema))
            root["components"] = self.components
            validator = jsonschema.Draft4Validator(
                root, format_checker=self.checker)
            self.validators[id(schema)] = validator
        out = []
        for err in sorted(validator.iter_errors(value),
                          key=lambda e: list(e.absolute_path)):
            # Of an event's payload alternatives (oneOf by `type`), the
            # errors of the one whose type matched say what is wrong.
            branches = {}
            for c in err.context:
                branches.setdefault(tuple(c.schema_path)[:1], []).append(c)
            inner = [c for errs in branches.values()
                     if all(list(c.relative_path) != ["type"] for c in errs)
                     for c in errs]
            for e in inner or [err]:
                where = "/".join(str(p) for p in e.absolute_path) or "(body)"
                out.append("%s: %s" % (where, e.message[:300]))
        return out

    def check(self, rec):
        """Problems with one logged answer: (route, problem) pairs."""
        method = (rec.get("method") or "").lower()
        status = str(rec.get("status"))
        body = rec.get("body") or ""
        mt = media_type(rec.get("content_type") or "")
        name, item = self.match(rec.get("target") or "")
        op = item.get(method) if item else None
        route = "%s %s %s" % (method.upper() or "?",
                              name or rec.get("target"), status)
        parsed = None
        if body and is_json(mt):
            try:
                parsed = json.loads(body)
            except ValueError as e:
                return [(route, "the body is not valid JSON (%s)" % e)]
        if op is None:
            # Not a route of the document: the answer is an error.
            if not status.startswith("4") and not status.startswith("5"):
                return [(route, "answered %s to a route or method the "
                         "document does not list" % status)]
            if parsed is None:
                return []
            problems = self.errors(self.error_schema, parsed)
            return [(route, "Error schema: " + p) for p in problems]
        responses = op.get("responses", {})
        resp = responses.get(status) or responses.get(status[0] + "XX") \
            or responses.get("default")
        if resp is None:
            if parsed is None and not body:
                return []  # no body: nothing to type
            return [(route, "status %s is not listed for this route" %
                     status)]
        resp = self.resolve(resp)
        content = resp.get("content") or {}
        if not body:
            if rec.get("method") == "HEAD":
                return []
            if any(is_json(media_type(k)) for k in content):
                return [(route, "the body is empty but the document lists "
                         "one")]
            return []
        listed = {media_type(k): v for k, v in content.items()}
        if mt not in listed:
            if parsed is None:
                if not content:
                    return [(route, "a %s body where the document lists "
                             "none" % (mt or "untyped"))]
                return [(route, "media type %s is not listed (%s)" %
                         (mt or "(none)", ", ".join(sorted(listed))))]
            return [(route, "JSON answer of media type %s has no schema "
                     "(listed: %s)" % (mt, ", ".join(sorted(listed)) or
                                       "none"))]
        if parsed is None:
            return []  # not JSON: the media type is what is checked
        schema = listed[mt].get("schema")
        if schema is None:
            return [(route, "no schema for the %s body" % mt)]
        return [(route, p) for p in self.errors(schema, parsed)]


def read_log(log_dir):
    records = []
    for name in sorted(os.listdir(log_dir)):
        if not name.endswith(".jsonl"):
            continue
        with open(os.path.join(log_dir, name), encoding="utf-8",
                  errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    records.append(json.loads(line))
    return records


def report(contract, records):
    """Prints every distinct problem with a count; returns how many."""
    seen = {}
    checked = set()
    for rec in records:
        for route, problem in contract.check(rec):
            key = (route, problem)
            if key not in seen:
                seen[key] = [0, rec.get("target"), (rec.get("body") or "")]
            seen[key][0] += 1
        name, item = contract.match(rec.get("target") or "")
        if item and (rec.get("method") or "").lower() in item:
            checked.add((rec["method"].upper(), name, str(rec["status"])))
    for (route, problem), (count, target, body) in sorted(seen.items()):
        print("MISMATCH %s: %s [%d answer%s; e.g. %s: %s]" %
              (route, problem, count, "" if count == 1 else "s", target,
               body[:300].replace("\n", " ")))
    return len(seen), checked


def uncovered(contract, checked):
    ops = set()
    for path, item in contract.doc["paths"].items():
        for m in METHODS:
            if m in item:
                ops.add((m.upper(), path))
    seen = {(m, p) for m, p, _ in checked}
    return sorted(ops - seen)


def self_test(contract):
    """Answers that are wrong on purpose must be told apart from a right
    one; returns the number of failures."""
    error = json.dumps({"error": {"code": "not_found", "message": "x",
                                  "fields": {}}})
    right_customer = {"id": "c-1", "company_id": "acme", "name": "Ada",
                      "phone": "", "email": "", "prefers_sms": False,
                      "prefers_email": False, "prefers_whatsapp": False,
                      "version": 1}

    def customer(body):
        """GET /api/customers/c-1 answered 200 with `body`."""
        return {"method": "GET", "target": "/api/customers/c-1",
                "status": 200, "content_type": "application/json",
                "body": json.dumps(body)}

    cases = [
        # (what, record, expect problems)
        ("a right error", {"method": "GET", "target": "/api/customers/c-1",
                           "status": 404, "content_type": "application/json",
                           "body": error}, False),
        ("a right health", {"method": "GET", "target": "/health",
                            "status": 200,
                            "content_type": "application/json",
                            "body": json.dumps({"status": "ok"})}, False),
        ("an error without code",
         {"method": "GET", "target": "/api/customers/c-1", "status": 404,
          "content_type": "application/json",
          "body": json.dumps({"error": {"message": "x", "fields": {}}})},
         True),
        ("a customer with a renamed field",
         customer({("full_name" if k == "name" else k): v
                   for k, v in right_customer.items()}), True),
        ("a customer whose version is a string",
         customer(dict(right_customer, version="1")), True),
        ("an appointment with a bad time",
         {"method": "GET", "target": "/api/appointments/a-1", "status": 200,
          "content_type": "application/json",
          "body": json.dumps({"id": "a-1", "company_id": "acme",
                              "branch_id": "", "service_id": "s",
                              "staff_id": "t", "customer_id": "c",
                              "start_time": "tomorrow at nine",
                              "end_time": "2027-01-01T10:00:00Z",
                              "status": "scheduled", "price_cents": 0,
                              "notes": "", "version": 1})},
         True),
        ("an event whose payload lacks a required field",
         {"method": "GET", "target": "/api/events", "status": 200,
          "content_type": "application/cloudevents-batch+json",
          "body": json.dumps([{
              "specversion": "1.0", "id": "e-1", "source": "/x",
              "type": "customer.created", "subject": "c-1",
              "time": "2027-01-01T09:00:00Z",
              "datacontenttype": "application/json",
              "aggregatetype": "customer", "aggregateid": "c-1",
              "version": "1",
              "data": {"customer": {"id": "c-1", "company_id": "acme"}}}])},
         True),
        ("a status the route does not list",
         {"method": "GET", "target": "/health", "status": 418,
          "content_type": "application/json", "body": error}, True),
        ("a success on a route the document does not list",
         {"method": "GET", "target": "/api/nowhere", "status": 200,
          "content_type": "application/json", "body": "{}"}, True),
        ("JSON that does not parse",
         {"method": "GET", "target": "/health", "status": 200,
          "content_type": "application/json", "body": "{\"status\":"},
         True),
        ("an unlisted media type",
         {"method": "GET", "target": "/health", "status": 200,
          "content_type": "application/problem+json",
          "body": json.dumps({"status": "ok"})}, True),
    ]
    failures = 0
    for what, rec, expect in cases:
        problems = contract.check(rec)
        if bool(problems) != expect:
            failures += 1
            print("SELF-TEST FAILED: %s: %s" %
                  (what, problems or "no problem found"))
        else:
            print("self-test ok: %s%s" %
                  (what, (" -> " + problems[0][1][:120]) if problems else ""))
    return failures, len(cases)


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        contract = Contract(yaml.safe_load(f))
    if argv[2] == "--self-test":
        failures, total = self_test(contract)
        print("%d passed, %d failed" % (total - failures, failures))
        return 1 if failures else 0
    if not os.path.isdir(argv[2]):
        print("no response log at %s (run app_tests with "
              "SWITCHBOARD_RESPONSE_LOG set)" % argv[2])
        return 1
    records = read_log(argv[2])
    if not records:
        print("the response log %s is empty: nothing was checked" % argv[2])
        return 1
    problems, checked = report(contract, records)
    missing = uncovered(contract, checked)
    print("%d answers checked; %d (method, route, status) seen; %d "
          "distinct mismatches" % (len(records), len(checked), problems))
    if missing:
        print("routes no test answer reached (not checked): " +
              ", ".join("%s %s" % m for m in missing))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
