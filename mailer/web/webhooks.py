"""`POST /webhooks/ses`: SES events delivered by SNS over HTTPS.

Everything is checked by `mailer.track.intake.handle_sns_webhook` (signature, certificate URL, topic
allow-list, ConfirmSubscription through the API); this route only hands it the raw body. SNS posts
with Content-Type text/plain, so the body is read raw, never as a form or JSON.

The app caps request bodies for its forms; this route allows what SNS can send: a Message of up to
256 KiB, JSON-escaped inside the envelope (a quote or backslash doubles, so up to twice that), plus
the envelope's own fields.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request

from mailer.track.intake import handle_sns_webhook
from mailer.track.mail_unsubscribe import unsubscriber_for
from mailer.track.queue import bounce_policies, sns_client
from mailer.track.sns import CertCache, fetch_cert_https

webhooks = Blueprint("webhooks", __name__)
SNS_MESSAGE_MAX = 256 * 1024
MAX_SNS_BODY = 2 * SNS_MESSAGE_MAX + 64 * 1024


@webhooks.post("/webhooks/ses")
def ses_events() -> Response:
    request.max_content_length = MAX_SNS_BODY  # larger than the app's cap for forms (a 413 beyond)
    ext = current_app.extensions[
        "mailer"
    ]  # tests may inject sns_fetch_cert / sns_client_for_region
    settings, factory = ext["settings"], ext["factory"]
    # Certificates are cached per process by URL, failures for a while (see CertCache).
    cache = ext.setdefault("sns_cert_cache", CertCache())
    result = handle_sns_webhook(
        request.get_data(cache=False),
        allowed_topics=settings.sns_topic_arns,
        session_factory=factory,
        policies_by_list_id=bounce_policies(factory, settings),
        sns_client_for_region=ext.get("sns_client_for_region", sns_client),
        fetch_cert=ext.get("sns_fetch_cert", fetch_cert_https),
        cert_cache=cache,
        inbound=unsubscriber_for(settings),
    )
    return Response(result.message, status=result.status, content_type="text/plain; charset=utf-8")
