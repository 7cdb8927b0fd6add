//! The handlers' real responses match `openapi.json`, route by route and status by status.

use std::collections::BTreeSet;

use booking_domain::BookingSettings;
use booking_functions::{availability, book_slot, owner_routes};
use lambda_http::{Body, Response};
use serde_json::{Value, json};

use crate::support::*;

struct Contract {
    spec: Value,
    seen: BTreeSet<(String, String, u16)>,
}

impl Contract {
    fn load() -> Self {
        let path = format!("{}/../../openapi.json", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Self {
            spec: serde_json::from_str(&text).expect("openapi.json is JSON"),
            seen: BTreeSet::new(),
        }
    }

    /// Checks `response` against the spec's schema for `method path` and its status.
    fn check(&mut self, method: &str, path: &str, response: Response<Body>) -> Value {
        let (status, content_type, body) = read(response);
        let operation = &self.spec["paths"][path][method];
        assert!(
            operation.is_object(),
            "{method} {path} is not in openapi.json"
        );
        let mut documented = operation["responses"][status.to_string()].clone();
        if let Some(reference) = documented["$ref"].as_str() {
            let name = reference.trim_start_matches("#/components/responses/");
            documented = self.spec["components"]["responses"][name].clone();
        }
        let content = documented["content"][&content_type].clone();
        assert!(
            content.is_object(),
            "{method} {path} {status} with {content_type} is not documented: {body}"
        );
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.spec["components"].clone(),
            "allOf": [content["schema"].clone()],
        });
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: {errors:?}\n{body}"
        );
        self.seen
            .insert((method.to_owned(), path.to_owned(), status));
        body
    }
}

const AVAILABILITY: &str = "/services/{serviceId}/availability";
const BOOK: &str = "/services/{serviceId}/book";
const JOBS: &str = "/jobs";
const CONFIRM: &str = "/jobs/{jobId}/confirm";
const DECLINE: &str = "/jobs/{jobId}/decline";

#[tokio::test(flavor = "multi_thread")]
async fn every_route_answers_as_openapi_json_describes() {
    let mut contract = Contract::load();
    let stack = Stack::new(BookingSettings {
        require_confirmation: true,
        ..BookingSettings::default()
    })
    .await;
    let deps = &stack.deps;
    let token = stack.token();

    contract.check(
        "get",
        AVAILABILITY,
        availability::handle(deps, availability_request(stack.haircut, &[])).await,
    );
    contract.check(
        "get",
        AVAILABILITY,
        availability::handle(deps, availability_request(stack.haircut, &[("from", "x")])).await,
    );
    contract.check(
        "get",
        AVAILABILITY,
        availability::handle(deps, availability_request(uuid::Uuid::new_v4(), &[])).await,
    );
    let limited = booking_functions::Deps::new(
        config_with(
            &stack.db.url,
            &[("AVAILABILITY_RATE_LIMIT_PER_MINUTE", "1")],
        ),
        fixed_clock(friday_morning()),
        deps.mailer.clone(),
    )
    .expect("deps");
    for _ in 0..2 {
        contract.check(
            "get",
            AVAILABILITY,
            availability::handle(&limited, availability_request(stack.haircut, &[])).await,
        );
    }

    let start = ny_text(2026, 12, 7, 10, 0);
    let booked = contract.check(
        "post",
        BOOK,
        book_slot::handle(
            deps,
            book_request(
                stack.haircut,
                &booking_body(&start, "a@example.com"),
                &[("Idempotency-Key", "k1")],
            ),
        )
        .await,
    );
    let job = booked["job"]["id"].as_str().expect("id").to_owned();
    contract.check(
        "post",
        BOOK,
        book_slot::handle(deps, book_request(stack.haircut, "{", &[])).await,
    );
    contract.check(
        "post",
        BOOK,
        book_slot::handle(
            deps,
            book_request(
                uuid::Uuid::new_v4(),
                &booking_body(&start, "b@example.com"),
                &[],
            ),
        )
        .await,
    );
    contract.check(
        "post",
        BOOK,
        book_slot::handle(
            deps,
            book_request(stack.haircut, &booking_body(&start, "b@example.com"), &[]),
        )
        .await,
    );
    contract.check(
        "post",
        BOOK,
        book_slot::handle(
            deps,
            book_request(
                stack.haircut,
                &booking_body(&ny_text(2026, 12, 7, 10, 10), "b@example.com"),
                &[],
            ),
        )
        .await,
    );
    contract.check(
        "post",
        BOOK,
        book_slot::handle(
            deps,
            book_request(
                stack.haircut,
                &booking_body(&ny_text(2026, 12, 7, 13, 0), "b@example.com"),
                &[("Idempotency-Key", "k1")],
            ),
        )
        .await,
    );

    contract.check(
        "post",
        CONFIRM,
        owner_routes::confirm(
            deps,
            owner_request(Some(&job), Some("confirm"), "", Auth::Bearer(&token)),
        )
        .await,
    );
    contract.check(
        "post",
        CONFIRM,
        owner_routes::confirm(
            deps,
            owner_request(Some(&job), Some("confirm"), "", Auth::Bearer(&token)),
        )
        .await,
    );
    contract.check(
        "post",
        CONFIRM,
        owner_routes::confirm(
            deps,
            owner_request(Some(&job), Some("confirm"), "", Auth::None),
        )
        .await,
    );
    contract.check(
        "post",
        CONFIRM,
        owner_routes::confirm(
            deps,
            owner_request(Some("nope"), Some("confirm"), "", Auth::Bearer(&token)),
        )
        .await,
    );

    let pending = stack
        .book(&ny_text(2026, 12, 7, 13, 0), "c@example.com")
        .await;
    let reason = json!({"reason": "Closed for a private event"}).to_string();
    contract.check(
        "post",
        DECLINE,
        owner_routes::decline(
            deps,
            owner_request(Some(&pending), Some("decline"), "{}", Auth::Bearer(&token)),
        )
        .await,
    );
    contract.check(
        "post",
        DECLINE,
        owner_routes::decline(
            deps,
            owner_request(
                Some(&pending),
                Some("decline"),
                &reason,
                Auth::Bearer(&token),
            ),
        )
        .await,
    );
    contract.check(
        "post",
        DECLINE,
        owner_routes::decline(
            deps,
            owner_request(
                Some(&pending),
                Some("decline"),
                &reason,
                Auth::Bearer(&token),
            ),
        )
        .await,
    );

    let manual = json!({"serviceId": stack.haircut, "start": ny_text(2026, 12, 9, 18, 0), "name": "Evening", "email": "e@example.com", "phone": "555 0101"}).to_string();
    contract.check(
        "post",
        JOBS,
        owner_routes::create(
            deps,
            owner_request(None, None, &manual, Auth::Bearer(&token)),
        )
        .await,
    );
    contract.check(
        "post",
        JOBS,
        owner_routes::create(
            deps,
            owner_request(None, None, &manual, Auth::Bearer(&token)),
        )
        .await,
    );
    contract.check(
        "post",
        JOBS,
        owner_routes::create(deps, owner_request(None, None, "[]", Auth::Bearer(&token))).await,
    );

    // Every operation's success answer was seen.
    for (method, path, status) in [
        ("get", AVAILABILITY, 200),
        ("post", BOOK, 201),
        ("post", JOBS, 201),
        ("post", CONFIRM, 200),
        ("post", DECLINE, 200),
    ] {
        assert!(
            contract
                .seen
                .contains(&(method.to_owned(), path.to_owned(), status)),
            "{method} {path} {status} not exercised"
        );
    }
    // And every path in the spec is one of the routes above.
    let documented: BTreeSet<&str> = contract.spec["paths"]
        .as_object()
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        documented,
        BTreeSet::from([AVAILABILITY, BOOK, JOBS, CONFIRM, DECLINE])
    );
}
