"""The subscribe form on other people's sites (ARCHITECTURE.md, "Stages", web), two ways:

- a frame: `/subscribe/<list>/embed` is the form alone, which only the sites in `embed_origins`
  (MAILER_EMBED_ORIGINS, config.py) may show in an iframe. The frame's document is ours, so its post
  is same-origin and passes the cross-site checks of forms.py like the hosted form's does.
- a plain form on their page that sends the reader, with a GET, to our hosted page with the address
  filled in (`?email=`); the reader clicks Subscribe there. Nothing is posted across sites.

`embed_code` is what `mailer subscribers embed` prints for the operator to paste.
"""

from __future__ import annotations

from html import escape

from mailer.config import ANY_SITE, NO_SITE
from mailer.content.lists import ListDefinition

EMBED_PATH = "/subscribe/{slug}/embed"
HOSTED_PATH = "/subscribe/{slug}"
# Tall enough for the form with an error line in a 300 px wide frame (tests/web/test_embed.py).
FRAME_HEIGHT = 440


def frame_ancestors(origins: tuple[str, ...]) -> str:
    """The CSP frame-ancestors sources for the embed pages. The origins were checked when the
    settings were read (config.embed_origins): nothing in them can end the directive."""
    if origins == (NO_SITE,):
        return "'none'"
    if origins == (ANY_SITE,):
        return "*"
    return " ".join(origins)


def iframe_tag(base_url: str, list_def: ListDefinition) -> str:
    src = escape(base_url + EMBED_PATH.format(slug=list_def.slug))
    title = escape(f"Subscribe to {list_def.name}")
    # No sandbox attribute: a sandbox without allow-same-origin gives the frame an opaque origin,
    # its post then says `Origin: null`, cross-site, and is refused (forms.py).
    return (
        f'<iframe src="{src}" title="{title}" width="100%" height="{FRAME_HEIGHT}" '
        'style="border:0;max-width:480px" loading="lazy"></iframe>'
    )


def snippet(base_url: str, list_def: ListDefinition) -> str:
    action = escape(base_url + HOSTED_PATH.format(slug=list_def.slug))
    name = escape(list_def.name)
    return "\n".join(
        (
            f'<form method="get" action="{action}">',
            f"  <label>Your email address for {name}",
            '    <input type="email" name="email" required maxlength="320" autocomplete="email">',
            "  </label>",
            '  <button type="submit">Subscribe</button>',
            "</form>",
        )
    )


def embed_code(base_url: str, list_def: ListDefinition, origins: tuple[str, ...]) -> str:
    """Both ways, as one piece of HTML to paste, each under a comment that says what it does."""
    if origins == (NO_SITE,):
        who = "no site may show it (MAILER_EMBED_ORIGINS=none): use the form below"
    elif origins == (ANY_SITE,):
        who = "any site may show it (MAILER_EMBED_ORIGINS=*)"
    else:
        who = "only " + ", ".join(origins) + " may show it (MAILER_EMBED_ORIGINS)"
    return "\n".join(
        (
            f"<!-- The subscribe form in a frame; {who}. -->",
            iframe_tag(base_url, list_def),
            "",
            "<!-- Or a plain form: it opens the subscribe page with the address filled in; "
            "the reader clicks Subscribe there. -->",
            snippet(base_url, list_def),
        )
    )
