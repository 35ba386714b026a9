# Validates a SARIF log (argv[2]) against the SARIF 2.1.0 JSON schema
# (argv[1]) and prints each error; exits 1 when there is one.
import json, sys, jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
v = jsonschema.Draft202012Validator(schema)
errs = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
for e in errs[:20]:
    print("/".join(map(str, e.absolute_path)) + ": " + e.message[:300])
sys.exit(1 if errs else 0)
