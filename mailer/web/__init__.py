"""The web app (ARCHITECTURE.md, "Stages"): subscribe, confirm, unsubscribe (RFC 8058 one-click),
manage, archive, counted links (/r/<token>).

`create_app()` is the factory for gunicorn (`gunicorn 'mailer.web:create_app()'`) and `mailer
serve`. It refuses to start without MAILER_SECRET_KEY; only `demo=True` (`mailer serve --demo`)
makes up an ephemeral key, and says so.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from mailer.config import Settings, load_settings
from mailer.render.issue import templates_dir
from mailer.send.welcome import Welcomes
from mailer.store.db import make_engine, require_schema, session_factory
from mailer.transports import make_transport
from mailer.web.click_counter import ClickCounter
from mailer.web.outbound import OutboundMail
from mailer.web.ratelimit import RateLimiter

log = logging.getLogger(__name__)
SUBSCRIBE_LIMIT = (5, 600.0)  # POST /subscribe per IP: 5 per 10 minutes


def demo_settings(settings: Settings) -> Settings:
    """A throwaway signing key: every link it makes dies with the process."""
    if settings.secret_key:
        return settings
    log.warning(
        "demo mode: using an ephemeral MAILER_SECRET_KEY; links stop working when the server stops"
    )
    return dataclasses.replace(settings, secret_key=secrets.token_urlsafe(32))


def create_app(
    settings: Settings | None = None,
    *,
    demo: bool = False,
    subscribe_limit: tuple[int, float] = SUBSCRIBE_LIMIT,
) -> Flask:
    settings = settings or load_settings()
    if demo:
        settings = demo_settings(settings)
    settings.require_secret_key()
    engine = make_engine(settings.database_url)
    require_schema(engine)

    app = Flask(__name__, template_folder=str(templates_dir() / "web"), static_folder=None)
    # Flask's own cookie session is never used; the key is set only so nothing falls back to a
    # default.
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=64 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        TEMPLATES_AUTO_RELOAD=False,
    )
    if settings.trusted_proxies:
        # Behind N proxies the peer is the nearest proxy; the client is the Nth address from the
        # right
        # of X-Forwarded-For. Only those N entries are believed: a client cannot forge its way past.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]
    from mailer.web.archive import archive
    from mailer.web.clicks import LinkTargets, clicks
    from mailer.web.manage import manage
    from mailer.web.views import bp, register_error_pages
    from mailer.web.webhooks import webhooks

    factory = session_factory(engine)
    app.extensions["mailer"] = {
        "settings": settings,
        "factory": factory,
        "limiter": RateLimiter(factory, settings.secret_key, *subscribe_limit),
        # MAILER_TRANSPORT / MAILER_OUTBOX, one transport for the process's life; one sender thread
        # keeps one call in flight.
        "outbound": OutboundMail(lambda: make_transport(settings, pool_size=1)),
        # Welcome mails: a confirmation's row, claimed and sent by the sender thread after commit.
        "welcomes": Welcomes(settings, factory),
        # Clicks of /r/<token>, counted in memory and written by one thread about once a second;
        # what is pending is written at exit (atexit: a gunicorn worker's graceful end).
        "clicks": ClickCounter(factory),
        # Each counted link's target, read once per process (a send's links never change).
        "click_targets": LinkTargets(factory, settings.lists_dir),
    }
    app.register_blueprint(bp)
    app.register_blueprint(archive)
    app.register_blueprint(webhooks)
    app.register_blueprint(clicks)
    app.register_blueprint(manage)
    app.extensions["mailer"]["clicks"].start()
    register_error_pages(app)
    return app
