"""TEI conformance: TEI's own OpenAPI specification (tests/fixtures/tei/openapi-1.9.3.json)
drives schemathesis against a real `ember serve` on loopback, for an embedder (with prompts), a
classifier and a re-ranker. Every operation of the spec gets generated requests, valid ones and
invalid ones (a fixed seed and a bounded count: about a minute in all). Asserted: no 5xx, every
status is one the spec documents for the operation, every content type and every response body
matches the spec, except the documented quirks below (each with its reason; docs/serve.md).
The statuses such traffic never produces (413, 429, 503) are made, one request each, by
test_tei_statuses.py."""
import json
import pathlib
import warnings

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi import checks as openapi_checks

from conftest import SEQCLS_DIR, SOURCE_DIR, Server

SPEC = SOURCE_DIR / "tests/fixtures/tei/openapi-1.9.3.json"
MODELS = {
    "embedder": SOURCE_DIR / "tests/fixtures/models/tiny-bert-prompts",
    "classifier": SEQCLS_DIR,
    "reranker": SOURCE_DIR / "tests/fixtures/models/tiny-bert-reranker",
}
EXAMPLES = 25  # per operation and generation mode

# Where Ember answers differently from TEI's spec on purpose: (operation, status or None, check,
# reason). A failure matches a quirk when all three match.
QUIRKS = [
    ("POST /v1/embeddings", None, "response_schema_conformance",
     "errors use OpenAI's nested envelope {\"error\": {message, type, param, code}}, which OpenAI "
     "clients parse; TEI's spec declares a flat {message, code, error_type} (and TEI itself sends "
     "\"type\", not \"error_type\")"),
]


def quirk_of(operation, status, check):
    for op, st, ck, reason in QUIRKS:
        if op == operation and (st is None or st == status) and ck == check:
            return reason
    return None


# Not asserted: schemathesis' positive_data_acceptance and negative_data_rejection. TEI itself
# refuses schema-valid requests (an empty text or id list: 400 "Empty"; an unknown prompt_name,
# an over-long input, dimensions 0: 422; a route of another model type: 424) that its spec
# cannot express, and Ember answers them as TEI does (tests/serve/test_tei_routes.py).
CHECKS = [
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


def run_operation(op, url, mode, seen):
    """Generated requests for one operation; records (status, check, failure title) in `seen`."""
    from schemathesis.checks import not_a_server_error

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    )
    @hypothesis.given(case=op.as_strategy(generation_mode=mode))
    def test(case):
        response = case.call(base_url=url, timeout=60)
        status = response.status_code
        seen["statuses"].add(status)
        assert status < 500, (op.label, status, response.text[:300], case.body)
        for check in CHECKS:
            try:
                case.validate_response(response, checks=[check])
            except Failure as f:
                seen["failures"].append((status, check.__name__, f.title, f.message[:300]))
            except BaseExceptionGroup as g:  # several failures of one check
                for f in g.exceptions:
                    seen["failures"].append((status, check.__name__, getattr(f, "title", ""), str(f)[:300]))

    try:
        test()
    except hypothesis.errors.Unsatisfiable:
        # An operation without a body or parameters (GET /health) has no invalid requests.
        assert mode == GenerationMode.NEGATIVE and not op.body, op.label


@pytest.mark.parametrize("kind", list(MODELS))
def test_tei_spec_conformance(kind):
    load_all_checks()
    server = Server("--http-threads", "2", model=MODELS[kind])
    try:
        schema = schemathesis.openapi.from_path(str(SPEC))
        report, unexpected, quirks = {}, [], set()
        for result in schema.get_all_operations():
            op = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                seen = {"statuses": set(), "failures": []}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    run_operation(op, server.url, mode, seen)
                report[f"{op.label} {mode.value}"] = sorted(seen["statuses"])
                for status, check, title, message in seen["failures"]:
                    if quirk_of(op.label, status, check):
                        quirks.add((op.label, status, check))
                    else:
                        unexpected.append((op.label, mode.value, status, check, title, message))
        print(json.dumps(report, indent=1))
        print("quirks seen:", sorted(quirks))
        assert not unexpected, "\n".join(map(str, unexpected[:20]))
    finally:
        assert server.terminate() == 0
