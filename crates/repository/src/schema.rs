// @generated automatically by Diesel CLI.

diesel::table! {
    calendar_feeds (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        staff_id -> Nullable<Uuid>,
        token_hash -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    contacts (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        email -> Text,
        email_key -> Nullable<Text>,
        name -> Text,
        phone -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        erased_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    date_overrides (id) {
        tenant_id -> Uuid,
        on_date -> Date,
        start_minute -> Nullable<Int2>,
        end_minute -> Nullable<Int2>,
        id -> Int8,
    }
}

diesel::table! {
    emails (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        job_id -> Uuid,
        kind -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        ses_message_id -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        event_id -> Nullable<Uuid>,
        revision -> Nullable<Int4>,
    }
}

diesel::table! {
    idempotency_keys (scope, key) {
        scope -> Text,
        key -> Text,
        request_hash -> Bytea,
        job_id -> Nullable<Uuid>,
        response_status -> Nullable<Int2>,
        response_body -> Nullable<Text>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    job_events (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        job_id -> Uuid,
        position -> Int8,
        at -> Timestamptz,
        actor -> Text,
        action -> Text,
        from_status -> Nullable<Text>,
        to_status -> Nullable<Text>,
        from_start -> Nullable<Timestamptz>,
        to_start -> Nullable<Timestamptz>,
        from_end -> Nullable<Timestamptz>,
        to_end -> Nullable<Timestamptz>,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    jobs (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        service_id -> Uuid,
        contact_id -> Uuid,
        title -> Text,
        starts_at -> Timestamptz,
        ends_at -> Timestamptz,
        status -> Text,
        decline_reason -> Nullable<Text>,
        notes -> Nullable<Text>,
        source -> Text,
        changed_by -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        client_name -> Text,
        client_phone -> Nullable<Text>,
        cancel_reason -> Nullable<Text>,
        cancelled_by -> Nullable<Text>,
        revision -> Int4,
        manage_version -> Int4,
        staff_id -> Nullable<Uuid>,
        external_id -> Nullable<Text>,
    }
}

diesel::table! {
    mail_recipient_turns (id) {
        recipient -> Bytea,
        due_at -> Timestamptz,
        id -> Int8,
    }
}

diesel::table! {
    rate_limit_windows (bucket, window_start) {
        bucket -> Text,
        window_start -> Timestamptz,
        hits -> Int4,
    }
}

diesel::table! {
    reminders (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        job_id -> Uuid,
        offset_minutes -> Int4,
        due_at -> Timestamptz,
        taken_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    services (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        slug -> Text,
        name -> Text,
        duration_minutes -> Int4,
        active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    staff (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        slug -> Text,
        name -> Text,
        email -> Nullable<Text>,
        capacity -> Int4,
        active -> Bool,
        own_hours -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    staff_date_overrides (id) {
        id -> Int8,
        tenant_id -> Uuid,
        staff_id -> Uuid,
        on_date -> Date,
        start_minute -> Nullable<Int2>,
        end_minute -> Nullable<Int2>,
    }
}

diesel::table! {
    staff_services (staff_id, service_id) {
        tenant_id -> Uuid,
        staff_id -> Uuid,
        service_id -> Uuid,
    }
}

diesel::table! {
    staff_working_hours (staff_id, weekday, start_minute) {
        tenant_id -> Uuid,
        staff_id -> Uuid,
        weekday -> Int2,
        start_minute -> Int2,
        end_minute -> Int2,
    }
}

diesel::table! {
    suppressions (tenant_id, address_hash) {
        tenant_id -> Uuid,
        address_hash -> Bytea,
        email -> Nullable<Text>,
        reason -> Text,
        at -> Timestamptz,
    }
}

diesel::table! {
    tenant_changes (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        position -> Int8,
        at -> Timestamptz,
        actor -> Text,
        what -> Text,
        detail -> Jsonb,
    }
}

diesel::table! {
    tenant_members (issuer, subject) {
        issuer -> Text,
        subject -> Text,
        tenant_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tenants (id) {
        id -> Uuid,
        slug -> Text,
        name -> Text,
        time_zone -> Text,
        notification_email -> Text,
        require_confirmation -> Bool,
        allow_same_day -> Bool,
        min_notice_minutes -> Int4,
        max_advance_days -> Int4,
        max_bookings_per_slot -> Int4,
        slot_interval_minutes -> Int4,
        buffer_before_minutes -> Int4,
        buffer_after_minutes -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        change_notice_minutes -> Int4,
        client_can_cancel -> Bool,
        client_can_reschedule -> Bool,
        reminder_minutes_before -> Array<Nullable<Int4>>,
    }
}

diesel::table! {
    webhook_deliveries (webhook_id, event_id) {
        webhook_id -> Uuid,
        event_id -> Uuid,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        created_at -> Timestamptz,
        last_status_code -> Nullable<Int4>,
        last_response -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_events (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        job_id -> Uuid,
        #[sql_name = "type"]
        type_ -> Text,
        at -> Timestamptz,
        job -> Jsonb,
    }
}

diesel::table! {
    webhooks (id) {
        id -> Uuid,
        tenant_id -> Uuid,
        url -> Text,
        events -> Array<Nullable<Text>>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    working_hours (tenant_id, weekday, start_minute) {
        tenant_id -> Uuid,
        weekday -> Int2,
        start_minute -> Int2,
        end_minute -> Int2,
    }
}

diesel::joinable!(calendar_feeds -> tenants (tenant_id));
diesel::joinable!(contacts -> tenants (tenant_id));
diesel::joinable!(date_overrides -> tenants (tenant_id));
diesel::joinable!(emails -> job_events (event_id));
diesel::joinable!(emails -> jobs (job_id));
diesel::joinable!(emails -> tenants (tenant_id));
diesel::joinable!(idempotency_keys -> jobs (job_id));
// Jobs reference their contact, service and person through composite (tenant, id) keys,
// which print-schema does not turn into joins: schema.patch adds them.
diesel::joinable!(jobs -> contacts (contact_id));
diesel::joinable!(jobs -> services (service_id));
diesel::joinable!(jobs -> staff (staff_id));
diesel::joinable!(jobs -> tenants (tenant_id));
diesel::joinable!(services -> tenants (tenant_id));
diesel::joinable!(staff -> tenants (tenant_id));
diesel::joinable!(suppressions -> tenants (tenant_id));
diesel::joinable!(tenant_changes -> tenants (tenant_id));
diesel::joinable!(tenant_members -> tenants (tenant_id));
diesel::joinable!(webhook_deliveries -> webhook_events (event_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(webhooks -> tenants (tenant_id));
diesel::joinable!(working_hours -> tenants (tenant_id));

diesel::allow_tables_to_appear_in_same_query!(
    calendar_feeds,
    contacts,
    date_overrides,
    emails,
    idempotency_keys,
    job_events,
    jobs,
    mail_recipient_turns,
    rate_limit_windows,
    reminders,
    services,
    staff,
    staff_date_overrides,
    staff_services,
    staff_working_hours,
    suppressions,
    tenant_changes,
    tenant_members,
    tenants,
    webhook_deliveries,
    webhook_events,
    webhooks,
    working_hours,
);
