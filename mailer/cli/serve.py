"""`mailer serve`: the web app on this machine, for a trial or development."""

from __future__ import annotations

import click

from mailer.cli.options import settings_of
from mailer.web.local import demo_settings, server_url, stop_on_sigterm


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--demo",
    is_flag=True,
    help="Local trial: links (and confirmation mails) point at --host/--port; without "
    "MAILER_SECRET_KEY an ephemeral key, so links die with the process.",
)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, demo: bool) -> None:
    """Run the web app locally (production: gunicorn 'mailer.web:create_app()').

    Example:

    \b
        mailer serve --demo --port 8000
    """
    from mailer.web import create_app  # Flask loads only for the command that runs it

    settings = settings_of(ctx)
    if demo:
        settings = demo_settings(settings, host, port)
        if not settings.secret_key:
            click.echo(
                "demo mode: no MAILER_SECRET_KEY, so an ephemeral key: links stop working "
                "when the server stops, and links in mails from `make demo` do not work "
                "(paste the lines it prints first)",
                err=True,
            )
    app = create_app(settings, demo=demo)
    stop_on_sigterm()
    click.echo(f"serving on {server_url(host, port)} (Ctrl-C or SIGTERM stops)", err=True)
    app.run(host=host, port=port, threaded=True, load_dotenv=False)
