#!/usr/bin/env python3
"""Offline checks that template.yaml matches the code and the HTTP contract.

- every binary in crates/functions/src/bin/*.rs has a function, and every function's binary exists;
- every function builds with cargo-lambda for provided.al2023 on arm64, with reserved concurrency,
  a memory size of 128-256 MB and a log group with retention;
- every operation of the OpenAPI file (openapi.yaml or openapi.json) has a matching HttpApi event
  and the reverse (skipped, with a note, while there is no such file);
- routes under /jobs, /contacts and /tenant, and /services and /services/{serviceId}, carry the JWT authorizer, every other route is public, and the OpenAPI file's
  `security` agrees; the functions behind the authorizer (and only they) set AUTH_TRUST_AUTHORIZER=true;
- the public booking route has its own throttle; a CloudFront distribution in front of the HTTP API
  carries a WAF web ACL with a blocking per-IP rate-based rule, and the public functions know the
  origin secret that tells them CloudFront's viewer address is genuine;
- only the functions that send mail may call SES;
- DATABASE_URL comes from Secrets Manager (or a NoEcho parameter), never plain text;
- every function has an Errors and a Throttles alarm, and the outbox backlog metric has one, under
  the dimensions the relay's EMF line declares;
- GET /health is public and throttled; every log group is encrypted with a key of the stack; the
  relay's failed runs go to a dead-letter queue;
- infrastructure/database.yaml: backups kept >= 7 days, a final snapshot on delete or replace,
  deletion protection in prod, storage encrypted; the RDS Proxy (on in prod) requires TLS, signs in
  with the master secret only, fronts the database, is what the application url names when on,
  sits between the functions' and the database's security groups, and its InitQuery sets the
  bounds pool.rs would have sent as startup options.

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
PUBLIC_BINARIES = {"availability", "book-slot", "manage-booking", "calendar-feed"}
MAIL_SENDERS = {"book-slot", "confirm-job", "decline-job", "job-transitions", "email-relay", "manage-booking"}
# The client's manage routes and the calendar feed: the path holds a credential.
MANAGE_ROUTES = (
    "GET /bookings/{token}",
    "POST /bookings/{token}/cancel",
    "POST /bookings/{token}/reschedule",
    "GET /calendar/{feedToken}",
)
OWNER_PREFIXES = ("/jobs", "/contacts", "/webhooks", "/calendar-feeds", "/stats", "/suppressions", "/tenant", "/staff")
# The owner's routes under /services: the collection and one service (availability and booking,
# below them, are public).
OWNER_SERVICE_ROUTES = ("/services", "/services/{serviceId}")
BOOKING_ROUTE = "POST /services/{serviceId}/book"
OUTBOX_METRIC = ("Booking", "OutboxOldestPendingSeconds")
RELAY_SOURCE = "crates/functions/src/bin/email-relay.rs"
POOL_SOURCE = "crates/repository/src/pool.rs"
DATABASE_TEMPLATE = "infrastructure/database.yaml"
HEALTH_ROUTE = "GET /health"
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
        owner = path in OWNER_SERVICE_ROUTES or any(
            path == prefix or path.startswith(prefix + "/") for prefix in OWNER_PREFIXES
        )
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
    checks.report("owner routes (/jobs, /contacts, /webhooks, /calendar-feeds, /stats, /suppressions, /tenant, /staff, /services[/{serviceId}]) need the JWT authorizer, public routes none", problems)

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

    # The manage routes: public, throttled, and never logged by path (the token is in it).
    problems = []
    for api in apis:
        properties = api.get("Properties") or {}
        for route in MANAGE_ROUTES:
            settings = (properties.get("RouteSettings") or {}).get(route) or {}
            if not (settings.get("ThrottlingRateLimit") and settings.get("ThrottlingBurstLimit")):
                problems.append(f"RouteSettings has no rate and burst limit for {route}")
        log_format = str((properties.get("AccessLogSettings") or {}).get("Format") or "")
        for leaky in ("$context.path", "$context.resourcePath"):
            if leaky in log_format:
                problems.append(f"the access log records {leaky}: manage tokens would be logged")
    problems += [f"{route} has no function" for route in MANAGE_ROUTES if route not in routes]
    checks.report("the manage routes are throttled and logged by route key, never by path", problems)

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

    # Health: public, with its own throttle; logs encrypted; the relay's failures kept.
    problems = []
    if HEALTH_ROUTE not in routes:
        problems.append(f"{HEALTH_ROUTE} has no function")
    elif routes[HEALTH_ROUTE][1]:
        problems.append(f"{HEALTH_ROUTE} must be public")
    for api in apis:
        settings = ((api.get("Properties") or {}).get("RouteSettings") or {}).get(HEALTH_ROUTE) or {}
        if not (settings.get("ThrottlingRateLimit") and settings.get("ThrottlingBurstLimit")):
            problems.append(f"RouteSettings has no rate and burst limit for {HEALTH_ROUTE}")
    for name, r in resources.items():
        if r.get("Type") == "AWS::Logs::LogGroup" and not (r.get("Properties") or {}).get("KmsKeyId"):
            problems.append(f"log group {name} has no KmsKeyId")
    relay = next((r for r in functions.values() if binary(r) == "email-relay"), {})
    dlq = ((relay.get("Properties") or {}).get("DeadLetterQueue") or {}).get("TargetArn")
    if resources.get(named_resource(dlq) or "", {}).get("Type") != "AWS::SQS::Queue":
        problems.append("the email relay has no SQS dead-letter queue of this template")
    checks.report("GET /health is public and throttled; logs encrypted; relay failures kept", problems)

    database_path = root / DATABASE_TEMPLATE
    if database_path.exists():
        check_database(load(database_path), root, checks)

    total = checks.passed + checks.failed
    if checks.failed:
        print(f"check_template: {checks.failed} of {total} checks failed")
    else:
        print(f"check_template: all {total} checks passed")
    return 1 if checks.failed else 0


def check_database(template: dict, root: Path, checks: Checks) -> None:
    """Backups, deletion protection and the RDS Proxy wiring of infrastructure/database.yaml."""
    resources: dict = template.get("Resources") or {}
    parameters: dict = template.get("Parameters") or {}
    conditions: dict = template.get("Conditions") or {}
    of_type = lambda kind: {n: r for n, r in resources.items() if r.get("Type") == kind}  # noqa: E731
    props = lambda r: r.get("Properties") or {}  # noqa: E731

    def is_prod_condition(name: object) -> bool:
        return conditions.get(name) == {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}

    def mentions(value: object, needle: object) -> bool:
        if value == needle:
            return True
        if isinstance(value, dict):
            return any(mentions(v, needle) for v in value.values())
        if isinstance(value, list):
            return any(mentions(v, needle) for v in value)
        return False

    # Backups and deletion.
    problems = []
    instances = of_type("AWS::RDS::DBInstance")
    if not instances:
        problems.append("no AWS::RDS::DBInstance")
    for name, db in instances.items():
        p = props(db)
        retention = p.get("BackupRetentionPeriod")
        days = retention if isinstance(retention, int) else (parameters.get(ref_name(retention) or "") or {}).get("MinValue")
        if not isinstance(days, int) or days < 7:
            problems.append(f"{name}: BackupRetentionPeriod must be at least 7 days (a literal or a parameter with MinValue >= 7)")
        if db.get("DeletionPolicy") != "Snapshot" or db.get("UpdateReplacePolicy") != "Snapshot":
            problems.append(f"{name}: DeletionPolicy and UpdateReplacePolicy must be Snapshot")
        protection = p.get("DeletionProtection")
        guarded = protection is True or (
            isinstance(protection, dict)
            and isinstance(protection.get("Fn::If"), list)
            and is_prod_condition(protection["Fn::If"][0])
            and protection["Fn::If"][1] is True
        )
        if not guarded:
            problems.append(f"{name}: DeletionProtection must be true, or true in prod (!If [IsProd, true, ...])")
        if p.get("StorageEncrypted") is not True:
            problems.append(f"{name}: StorageEncrypted must be true")
    checks.report("database: backups >= 7 days, final snapshot, deletion protection in prod, encrypted", problems)

    # The RDS Proxy.
    problems = []
    proxies = of_type("AWS::RDS::DBProxy")
    if not proxies:
        problems.append("no AWS::RDS::DBProxy")
    for name, proxy in proxies.items():
        p = props(proxy)
        condition = proxy.get("Condition")
        if not condition or not mentions(conditions.get(condition), {"Fn::Condition": "IsProd"}):
            problems.append(f"{name}: must have a condition that turns it on in prod (IsProd)")
        if p.get("RequireTLS") is not True:
            problems.append(f"{name}: RequireTLS must be true")
        if p.get("EngineFamily") != "POSTGRESQL":
            problems.append(f"{name}: EngineFamily must be POSTGRESQL")
        secrets = []
        for auth in p.get("Auth") or []:
            if auth.get("AuthScheme") != "SECRETS" or not ref_name(auth.get("SecretArn")):
                problems.append(f"{name}: every Auth entry must be SECRETS with a secret of this template")
            else:
                secrets.append(ref_name(auth.get("SecretArn")))
        role = resources.get(named_resource(p.get("RoleArn")) or "", {})
        readable = {
            ref_name(statement.get("Resource"))
            for policy in props(role).get("Policies") or []
            for statement in (policy.get("PolicyDocument") or {}).get("Statement") or []
            if "secretsmanager:GetSecretValue" in str(statement.get("Action"))
        }
        if not secrets or readable != set(secrets):
            problems.append(f"{name}: its role must read exactly the secrets it signs in with ({secrets}), reads {sorted(map(str, readable))}")
        groups = [named_resource(g) for g in p.get("VpcSecurityGroupIds") or []]
        targets = [
            t for t in of_type("AWS::RDS::DBProxyTargetGroup").values()
            if ref_name(props(t).get("DBProxyName")) == name
        ]
        if not targets or not all(ref_name(i) in instances for t in targets for i in props(t).get("DBInstanceIdentifiers") or []):
            problems.append(f"{name}: needs a target group of this template's database instance")
        pool = (root / POOL_SOURCE).read_text(encoding="utf-8") if (root / POOL_SOURCE).exists() else ""
        for setting, constant in (("statement_timeout", "STATEMENT_TIMEOUT_MS"), ("lock_timeout", "LOCK_TIMEOUT_MS")):
            value = next((line.split("=")[-1].strip(" ;_").replace("_", "") for line in pool.splitlines() if f"const {constant}" in line), None)
            init = " ".join(str((props(t).get("ConnectionPoolConfigurationInfo") or {}).get("InitQuery", "")) for t in targets)
            if not value or f"{setting} = {value}" not in init:
                problems.append(f"{name}: the target group's InitQuery must SET {setting} = {value} ({POOL_SOURCE} {constant})")
        # Functions -> proxy -> database, and nothing else in between.
        function_groups = {n for n, r in resources.items() if r.get("Type") == "AWS::EC2::SecurityGroup" and n.startswith("Function")}
        database_groups = {
            named_resource(g) for db in instances.values() for g in props(db).get("VPCSecurityGroups") or []
        }

        def rule(kind: str, group: str | None, peer_key: str, peers: set) -> bool:
            inline = [
                r for g in [group] for r in props(resources.get(g or "", {})).get(
                    "SecurityGroupIngress" if kind == "ingress" else "SecurityGroupEgress"
                ) or []
            ]
            separate = [
                props(r) for r in resources.values()
                if r.get("Type") == f"AWS::EC2::SecurityGroup{kind.capitalize()}" and named_resource(props(r).get("GroupId")) == group
            ]
            return any(
                named_resource(r.get(peer_key)) in peers and r.get("FromPort") == 5432 for r in inline + separate
            )

        for group in groups:
            if not rule("ingress", group, "SourceSecurityGroupId", function_groups):
                problems.append(f"{name}: security group {group} must admit the functions' group on 5432")
            if not rule("egress", group, "DestinationSecurityGroupId", database_groups):
                problems.append(f"{name}: security group {group} must reach the database's group on 5432")
            if not any(rule("ingress", d, "SourceSecurityGroupId", {group}) for d in database_groups):
                problems.append(f"{name}: the database's group must admit {group} on 5432")
            if not any(rule("egress", f, "DestinationSecurityGroupId", {group}) for f in function_groups):
                problems.append(f"{name}: the functions' group must reach {group} on 5432")
        # The application's url names the proxy whenever the proxy exists.
        url_secrets = [
            r for r in of_type("AWS::SecretsManager::Secret").values()
            if "postgres://" in str(props(r).get("SecretString"))
        ]
        switched = any(
            mentions(props(r).get("SecretString"), {"Fn::If": [condition, {"Fn::GetAtt": [name, "Endpoint"]}, {"Fn::GetAtt": ["Database", "Endpoint.Address"]}]})
            or mentions(props(r).get("SecretString"), {"Fn::GetAtt": [name, "Endpoint"]})
            for r in url_secrets
        )
        if not switched:
            problems.append(f"{name}: the application url secret must name {name}.Endpoint when {condition} holds")
    checks.report("database: the RDS Proxy is on in prod, TLS, secret auth, wired between functions and database", problems)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent))
