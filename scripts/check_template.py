#!/usr/bin/env python3
"""Offline checks that template.yaml matches the code and the HTTP contract.

- every binary in crates/functions/src/bin/*.rs has a function, and every function's binary exists;
- every function builds with cargo-lambda for provided.al2023 on arm64, with reserved concurrency,
  a memory size of 128-256 MB and a log group with retention;
- every operation of the OpenAPI file (openapi.yaml or openapi.json) has a matching HttpApi event
  and the reverse (skipped, with a note, while there is no such file);
- routes under /jobs and /contacts carry the JWT authorizer, every other route is public, and the OpenAPI file's
  `security` agrees; the functions behind the authorizer (and only they) set AUTH_TRUST_AUTHORIZER=true;
- the public booking route has its own throttle; a CloudFront distribution in front of the HTTP API
  carries a WAF web ACL with a blocking per-IP rate-based rule, and the public functions know the
  origin secret that tells them CloudFront's viewer address is genuine;
- only the functions that send mail may call SES;
- DATABASE_URL comes from Secrets Manager (or a NoEcho parameter), never plain text;
- every function has an Errors and a Throttles alarm, and the outbox backlog metric has one, under
  the dimensions the relay's EMF line declares.

Usage: scripts/check_template.py [REPO_ROOT]. Needs PyYAML (cfn-lint brings it into .venv).
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    import yaml
except ImportError:  # pragma: no cover - only without the venv
    sys.exit("check_template: PyYAML is missing; run it with .venv/bin first on PATH")

TRUST_AUTHORIZER = "AUTH_TRUST_AUTHORIZER"
EDGE_SECRET = "EDGE_ORIGIN_SECRET"
PUBLIC_BINARIES = {"availability", "book-slot"}
MAIL_SENDERS = {"book-slot", "confirm-job", "decline-job", "job-transitions", "email-relay"}
OWNER_PREFIXES = ("/jobs", "/contacts")
BOOKING_ROUTE = "POST /services/{serviceId}/book"
OUTBOX_METRIC = ("Booking", "OutboxOldestPendingSeconds")
RELAY_SOURCE = "crates/functions/src/bin/email-relay.rs"
OPENAPI_FILES = ("openapi.yaml", "openapi.yml", "openapi.json")
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


class TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation short forms (!Ref, !Sub, !GetAtt, ...) as their long forms."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        return {"Fn::GetAtt": value.split(".", 1)}
    return {f"Fn::{suffix}": value}


TemplateLoader.add_multi_constructor("!", _intrinsic)


def load(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=TemplateLoader) or {}  # noqa: S506 - SafeLoader subclass


class Checks:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def report(self, name: str, problems: list[str], note: str = "") -> None:
        if problems:
            self.failed += 1
            print(f"FAIL {name}")
            for problem in problems:
                print(f"     - {problem}")
        else:
            self.passed += 1
            print(f"ok   {name}{f' ({note})' if note else ''}")


def ref_name(value: object) -> str | None:
    return value.get("Ref") if isinstance(value, dict) and isinstance(value.get("Ref"), str) else None


def named_resource(value: object) -> str | None:
    """The resource a `!Ref X` or `!GetAtt X.Attr` names."""
    if isinstance(value, dict) and isinstance(value.get("Fn::GetAtt"), list):
        return value["Fn::GetAtt"][0]
    return ref_name(value)


def main(root: Path) -> int:
    template = load(root / "template.yaml")
    resources: dict = template.get("Resources") or {}
    parameters: dict = template.get("Parameters") or {}
    globals_fn: dict = (template.get("Globals") or {}).get("Function") or {}

    functions = {
        name: r for name, r in resources.items() if r.get("Type") == "AWS::Serverless::Function"
    }

    def prop(resource: dict, key: str) -> object:
        return (resource.get("Properties") or {}).get(key, globals_fn.get(key))

    def binary(resource: dict) -> str | None:
        return ((resource.get("Metadata") or {}).get("BuildProperties") or {}).get("Binary")

    checks = Checks()

    # Binaries and functions, both ways.
    bins = {p.stem for p in (root / "crates/functions/src/bin").glob("*.rs")}
    by_binary = {binary(r): name for name, r in functions.items()}
    problems = [f"binary `{b}` has no function in template.yaml" for b in sorted(bins - set(by_binary))]
    problems += [
        f"{by_binary[b]} builds binary `{b}`, but crates/functions/src/bin/{b}.rs does not exist"
        for b in sorted(set(by_binary) - bins, key=str)
    ]
    checks.report("every binary has a function and every function a binary", problems)

    # Build and runtime settings.
    problems = []
    for name, r in functions.items():
        meta = r.get("Metadata") or {}
        if meta.get("BuildMethod") != "rust-cargolambda" or not binary(r):
            problems.append(f"{name}: needs Metadata BuildMethod rust-cargolambda and BuildProperties Binary")
        if prop(r, "Runtime") != "provided.al2023" or prop(r, "Handler") != "bootstrap":
            problems.append(f"{name}: Runtime must be provided.al2023 with Handler bootstrap")
        if prop(r, "Architectures") != ["arm64"]:
            problems.append(f"{name}: Architectures must be [arm64]")
        if prop(r, "PackageType") not in (None, "Zip"):
            problems.append(f"{name}: must be a zip package")
        memory = prop(r, "MemorySize")
        if not isinstance(memory, int) or not 128 <= memory <= 256:
            problems.append(f"{name}: MemorySize {memory!r} is not 128-256")
        if (r.get("Properties") or {}).get("ReservedConcurrentExecutions") is None:
            problems.append(f"{name}: no ReservedConcurrentExecutions (it bounds database connections)")
        group = ref_name(((r.get("Properties") or {}).get("LoggingConfig") or {}).get("LogGroup"))
        group_resource = resources.get(group or "", {})
        if group_resource.get("Type") != "AWS::Logs::LogGroup" or not (
            group_resource.get("Properties") or {}
        ).get("RetentionInDays"):
            problems.append(f"{name}: LoggingConfig.LogGroup must name a log group with RetentionInDays")
    checks.report("functions build for provided.al2023/arm64 with limits and log retention", problems)

    # HttpApi events.
    routes: dict[str, tuple[str, str | None]] = {}  # "METHOD /path" -> (function, authorizer)
    problems = []
    for name, r in functions.items():
        for event_name, event in ((r.get("Properties") or {}).get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            api = resources.get(ref_name(props.get("ApiId")) or "", {})
            if api.get("Type") != "AWS::Serverless::HttpApi":
                problems.append(f"{name}.{event_name}: ApiId must !Ref the template's HttpApi")
                continue
            default = ((api.get("Properties") or {}).get("Auth") or {}).get("DefaultAuthorizer")
            authorizer = (props.get("Auth") or {}).get("Authorizer", default)
            key = f"{str(props.get('Method', '')).upper()} {props.get('Path')}"
            if key in routes:
                problems.append(f"{key} is served by both {routes[key][0]} and {name}")
            routes[key] = (name, None if authorizer in (None, "NONE") else authorizer)

    openapi_path = next((root / n for n in OPENAPI_FILES if (root / n).exists()), None)
    documented: dict[str, bool] = {}  # "METHOD /path" -> the operation requires a token
    if openapi_path:
        spec = load(openapi_path)  # JSON is YAML too
        for path, item in (spec.get("paths") or {}).items():
            for method, operation in (item or {}).items():
                if method.lower() in HTTP_METHODS:
                    security = (operation or {}).get("security", spec.get("security")) or []
                    documented[f"{method.upper()} {path}"] = any(bool(requirement) for requirement in security)
        problems += [
            f"{key} is in {openapi_path.name} but no function serves it" for key in sorted(set(documented) - set(routes))
        ]
        problems += [
            f"{key} ({routes[key][0]}) is not in {openapi_path.name}" for key in sorted(set(routes) - set(documented))
        ]
        checks.report(f"HttpApi events match the operations of {openapi_path.name}", problems)
    else:
        checks.report("HttpApi events are well formed", problems, note="no openapi file: route list not compared")

    problems = []
    for key, (name, authorizer) in sorted(routes.items()):
        path = key.split(" ", 1)[1]
        owner = any(path == prefix or path.startswith(prefix + "/") for prefix in OWNER_PREFIXES)
        if owner and not authorizer:
            problems.append(f"{key} is an owner route but has no authorizer")
        if owner and authorizer:
            authorizers = {
                a_name: a
                for api in resources.values()
                if api.get("Type") == "AWS::Serverless::HttpApi"
                for a_name, a in (((api.get("Properties") or {}).get("Auth") or {}).get("Authorizers") or {}).items()
            }
            if "JwtConfiguration" not in (authorizers.get(authorizer) or {}):
                problems.append(f"{key} uses {authorizer}, which is not a JWT authorizer")
        if not owner and authorizer:
            problems.append(f"{key} is public but requires {authorizer}")
        if key in documented and documented[key] != bool(authorizer):
            problems.append(
                f"{key}: the OpenAPI file says it {'needs' if documented[key] else 'needs no'} token, "
                f"the template {'requires ' + authorizer if authorizer else 'requires none'}"
            )
    checks.report("owner routes (/jobs, /contacts) need the JWT authorizer, public routes none", problems)

    # Functions behind the authorizer say so; the code trusts authorizer claims only then.
    def env_of(resource: dict) -> dict:
        return {
            **((globals_fn.get("Environment") or {}).get("Variables") or {}),
            **(((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}),
        }

    problems = []
    for key, (name, authorizer) in sorted(routes.items()):
        trusted = str(env_of(functions[name]).get(TRUST_AUTHORIZER, "")).lower() == "true"
        if authorizer and not trusted:
            problems.append(f"{name} serves {key} behind {authorizer} but does not set {TRUST_AUTHORIZER}=true")
        if not authorizer and trusted:
            problems.append(f"{name} serves the public {key} but sets {TRUST_AUTHORIZER}=true")
    checks.report(f"functions behind the JWT authorizer (and only they) set {TRUST_AUTHORIZER}", problems)

    # Throttle on the public booking route.
    problems = []
    apis = [r for r in resources.values() if r.get("Type") == "AWS::Serverless::HttpApi"]
    for api in apis:
        settings = ((api.get("Properties") or {}).get("RouteSettings") or {}).get(BOOKING_ROUTE) or {}
        if not (settings.get("ThrottlingRateLimit") and settings.get("ThrottlingBurstLimit")):
            problems.append(f"RouteSettings has no rate and burst limit for {BOOKING_ROUTE}")
    if BOOKING_ROUTE not in routes:
        problems.append(f"{BOOKING_ROUTE} has no function")
    checks.report("the public booking route is throttled", problems)

    # A per-client rate limit in front of the API: a WAF web ACL with a rate-based rule keyed on
    # the client's IP, on a CloudFront distribution whose origin is the HTTP API (HTTP APIs take
    # no web ACL themselves), so the route throttles above are only a shared ceiling.
    def rate_rules(acl: dict) -> list[str]:
        named = []
        for rule in (acl.get("Properties") or {}).get("Rules") or []:
            rate = (rule.get("Statement") or {}).get("RateBasedStatement") or {}
            keyed_on_ip = rate.get("AggregateKeyType") == "IP" or any(
                "IP" in key for key in rate.get("CustomKeys") or []
            )
            if keyed_on_ip and "Block" in (rule.get("Action") or {}):
                named.append(rule.get("Name", "?"))
        return named

    problems = []
    acls = {n: r for n, r in resources.items() if r.get("Type") == "AWS::WAFv2::WebACL"}
    guarded = False
    for r in resources.values():
        if r.get("Type") != "AWS::CloudFront::Distribution":
            continue
        config = (r.get("Properties") or {}).get("DistributionConfig") or {}
        acl_name = named_resource(config.get("WebACLId"))
        origins = " ".join(str(o.get("DomainName")) for o in config.get("Origins") or [])
        api_names = [n for n, a in resources.items() if a.get("Type") == "AWS::Serverless::HttpApi"]
        if acl_name in acls and rate_rules(acls[acl_name]) and any(n in origins for n in api_names):
            guarded = True
            if (acls[acl_name].get("Properties") or {}).get("Scope") != "CLOUDFRONT":
                problems.append(f"{acl_name} guards a CloudFront distribution but its Scope is not CLOUDFRONT")
    if not guarded:
        problems.append(
            "no CloudFront distribution in front of the HttpApi carries a WAF web ACL with a "
            "blocking rate-based rule keyed on IP"
        )
    for name, r in functions.items():
        if binary(r) in PUBLIC_BINARIES and not env_of(r).get(EDGE_SECRET):
            problems.append(f"{name} does not know {EDGE_SECRET}, so it cannot tell the client behind CloudFront")
    checks.report("a WAF rate-based rule per client IP guards the API (through CloudFront)", problems)

    # Who may send mail.
    def sends_mail(policy_document: object) -> bool:
        if not isinstance(policy_document, dict):
            return False
        statements = policy_document.get("Statement") or []
        for statement in statements if isinstance(statements, list) else [statements]:
            actions = statement.get("Action") or []
            actions = [actions] if isinstance(actions, str) else actions
            if statement.get("Effect") == "Allow" and any(str(a).lower().startswith("ses:") for a in actions):
                return True
        return False

    def policy_sends_mail(entry: object) -> bool:
        if isinstance(entry, str):
            return "ses" in entry.lower()  # an AWS managed policy or SAM policy template name
        if isinstance(entry, dict):
            target = resources.get(ref_name(entry) or "")
            if target:
                return sends_mail((target.get("Properties") or {}).get("PolicyDocument"))
            if "Statement" in entry:
                return sends_mail(entry)
            return any(key.lower().startswith("ses") for key in entry)  # SAM policy templates
        return False

    problems = []
    for name, r in functions.items():
        policies = (r.get("Properties") or {}).get("Policies") or []
        policies = policies if isinstance(policies, list) else [policies]
        can_send = any(policy_sends_mail(p) for p in policies)
        if can_send and binary(r) not in MAIL_SENDERS:
            problems.append(f"{name} ({binary(r)}) may call SES but sends no mail")
        if not can_send and binary(r) in MAIL_SENDERS:
            problems.append(f"{name} ({binary(r)}) sends mail but has no SES permission")
    checks.report("only book-slot, confirm-job, decline-job, job-transitions and email-relay may send mail", problems)

    # DATABASE_URL never in plain text.
    problems = []
    for name, r in functions.items():
        url = env_of(r).get("DATABASE_URL")
        text = url if isinstance(url, str) else (url or {}).get("Fn::Sub") if isinstance(url, dict) else None
        secret_ref = isinstance(text, str) and text.startswith("{{resolve:secretsmanager:")
        no_echo = str((parameters.get(ref_name(url) or "") or {}).get("NoEcho", "")).lower() == "true"
        if not (secret_ref or no_echo):
            problems.append(f"{name}: DATABASE_URL must be a Secrets Manager reference or a NoEcho parameter")
    checks.report("DATABASE_URL comes from Secrets Manager", problems)

    # Alarms.
    alarmed: set[tuple[str, str]] = set()
    outbox = False
    outbox_dimensions: list[str] = []
    for r in resources.values():
        if r.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = r.get("Properties") or {}
        if not props.get("AlarmActions"):
            continue
        if (props.get("Namespace"), props.get("MetricName")) == OUTBOX_METRIC:
            outbox = True
            outbox_dimensions = [d.get("Name") for d in props.get("Dimensions") or []]
        if props.get("Namespace") == "AWS/Lambda":
            for dimension in props.get("Dimensions") or []:
                if dimension.get("Name") == "FunctionName" and ref_name(dimension.get("Value")):
                    alarmed.add((ref_name(dimension.get("Value")), props.get("MetricName")))
    problems = [
        f"{name} has no {metric} alarm"
        for name in functions
        for metric in ("Errors", "Throttles")
        if (name, metric) not in alarmed
    ]
    if not outbox:
        problems.append("no alarm on Booking/OutboxOldestPendingSeconds")
    # The alarm sees the metric only under exactly the dimensions the relay's EMF line declares;
    # a textual look at the relay's source catches the two drifting apart.
    relay_source = root / RELAY_SOURCE
    if outbox and relay_source.exists():
        source = relay_source.read_text(encoding="utf-8")
        if OUTBOX_METRIC[1] in source:
            missing = [name for name in outbox_dimensions if f'"{name}"' not in source]
            if missing or (not outbox_dimensions and "[[]]" not in source):
                problems.append(
                    f"the outbox alarm reads dimensions {outbox_dimensions or 'none'}, but {RELAY_SOURCE} "
                    f"does not emit {missing or 'an empty dimension set'} in its EMF line"
                )
    checks.report("every function has Errors and Throttles alarms; the outbox backlog has one", problems)

    total = checks.passed + checks.failed
    if checks.failed:
        print(f"check_template: {checks.failed} of {total} checks failed")
    else:
        print(f"check_template: all {total} checks passed")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent))
