"""The subscribe form on other sites (mailer/web/embed.py), through real HTTP and in Chromium.

The embed form (`/subscribe/<list>/embed`) has the hosted form's fields, only it and the pages its
post answers with may be framed, and only by `embed_origins`; its post, made inside a frame on
another site, is same-origin and subscribes, while that site's own post to us is refused. The
plain-HTML form sends the reader to our page with the address filled in (escaped, cut, nothing
stored), where the Subscribe button does the rest. The HTML the operator pastes is what
`mailer subscribers embed` prints, and the browser tests put exactly that on the other site.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

import lxml.html
import pytest
import requests

from mailer.config import load_settings
from mailer.errors import ConfigError
from mailer.web.embed import FRAME_HEIGHT
from tests.cli.test_cli import mailer
from tests.conftest import DB_KINDS, REPO
from tests.contrast import SCHEMES, axe_violations, install_ratio
from tests.web.conftest import confirm_path, dump_tables
from tests.web.test_form_hardening import hostile_slugs
from tests.web.test_lifecycle_http import LIST, OTHER, events, status_of

EMBED = f"/subscribe/{LIST}/embed"
HOSTILE = '"><script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


# --- helpers ------------------------------------------------------------------


def form_inputs(html: str) -> dict[str, dict[str, str]]:
    """The subscribe form's inputs by name: their attributes, as a browser parses them."""
    [form] = lxml.html.fromstring(html).xpath('//form[@id="subscribe"]')
    return {field.get("name"): dict(field.attrib) for field in form.iter("input")}


def form_action(html: str) -> str:
    [form] = lxml.html.fromstring(html).xpath('//form[@id="subscribe"]')
    return form.get("action")


def csp(response) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return dict(part.strip().partition(" ")[::2] for part in policy.split(";"))


def framing(response) -> tuple[str | None, str]:
    """(X-Frame-Options, frame-ancestors) of a response."""
    return response.headers.get("X-Frame-Options"), csp(response)["frame-ancestors"]


DENIED = ("DENY", "'none'")


def embed_fields(live, slug: str = LIST) -> dict[str, str]:
    page = live.get(f"/subscribe/{slug}/embed")
    assert page.status_code == 200, page.status_code
    return {
        name: attrs.get("value", "")
        for name, attrs in form_inputs(page.text).items()
        if attrs.get("type") == "hidden"
    }


def embed_post(live, email: str, slug: str = LIST, headers: dict | None = None, **fields):
    data = {**embed_fields(live, slug), "email": email, "name": "Ada", **fields}
    return live.post(f"/subscribe/{slug}/embed", data=data, headers=headers or {})


def in_embed_layout(html: str) -> bool:
    """The frame's layout: no masthead, no postal-address footer."""
    doc = lxml.html.fromstring(html)
    return not doc.xpath("//header") and not doc.xpath("//footer") and bool(doc.xpath("//main"))


# --- the embed form and its post, over HTTP -------------------------------------


def test_the_embed_form_has_the_hosted_forms_fields_and_posts_to_itself(live):
    hosted, embed = live.get(f"/subscribe/{LIST}"), live.get(EMBED)
    assert hosted.status_code == embed.status_code == 200
    hosted_inputs, embed_inputs = form_inputs(hosted.text), form_inputs(embed.text)
    assert {n: a.get("type") for n, a in embed_inputs.items()} == {
        n: a.get("type") for n, a in hosted_inputs.items()
    }
    assert set(embed_inputs) == {"list", "form_version", "form_token", "email", "name", "website"}
    for name in ("list", "form_version"):
        assert embed_inputs[name]["value"] == hosted_inputs[name]["value"]
    assert embed_inputs["email"]["maxlength"] == "320" and "required" in embed_inputs["email"]
    assert embed_inputs["website"]["tabindex"] == "-1"  # the honeypot stays out of reach
    consent = lxml.html.fromstring(hosted.text).xpath('//form[@id="subscribe"]//p[@class="fine"]')
    assert consent and consent[0].text_content() in embed.text
    assert form_action(embed.text) == EMBED and form_action(hosted.text) == "/subscribe"
    assert in_embed_layout(embed.text) and not in_embed_layout(hosted.text)
    assert embed.headers["Referrer-Policy"] == "same-origin"  # the post then carries our Origin


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
def test_the_embed_post_subscribes_like_the_hosted_one(live, factory):
    answer = embed_post(
        live, "ada@example.com", headers={"Origin": live.url, "Sec-Fetch-Site": "same-origin"}
    )
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    assert in_embed_layout(answer.text) and framing(answer) == (None, "*")
    assert status_of(factory, "ada@example.com") == "pending"
    assert events(factory, "ada@example.com") == [("subscribe", "web")]
    [mail] = live.outbox()
    assert mail["To"].addresses[0].addr_spec == "ada@example.com"
    assert live.post(confirm_path(mail)).status_code == 200
    assert status_of(factory, "ada@example.com") == "confirmed"


def test_every_answer_of_the_embed_post_is_in_the_frame(serve, factory):
    live = serve(subscribe_limit=(3, 600.0))
    answers = {
        "bad-address": embed_post(live, "not an address"),
        "undeliverable": embed_post(live, "ü@example.com"),
        "honeypot": embed_post(live, "bot@example.com", website="https://spam.example"),
        "accepted": embed_post(live, "grace@example.com"),
        "too-many": embed_post(live, "late@example.com"),
        "foreign": embed_post(live, "x@example.com", headers={"Origin": "https://evil.example"}),
        "unknown-list": live.post("/subscribe/no-such-list/embed", data={"email": "a@b.example"}),
    }
    codes = {name: answer.status_code for name, answer in answers.items()}
    assert codes == {
        "bad-address": 400,
        "undeliverable": 400,
        "honeypot": 200,
        "accepted": 200,
        "too-many": 429,
        "foreign": 403,
        "unknown-list": 404,
    }
    for name, answer in answers.items():
        assert in_embed_layout(answer.text), name
        assert framing(answer) == (None, "*"), name
    # the form again, in the frame, with the address kept and the error said
    for name in ("bad-address", "undeliverable"):
        assert form_action(answers[name].text) == EMBED
        assert 'id="error"' in answers[name].text
    assert form_inputs(answers["bad-address"].text)["email"]["value"] == "not an address"
    # the 403 page links to the embed form, not to the hosted page (the frame stays the form's)
    assert f'href="{EMBED}"' in answers["foreign"].text
    assert [m["To"].addresses[0].addr_spec for m in live.outbox()] == ["grace@example.com"]
    assert status_of(factory, "bot@example.com") is None


@pytest.mark.parametrize("database_url", DB_KINDS, indirect=True)
@pytest.mark.parametrize(
    "attack",
    [
        {"headers": {"Origin": "https://evil.example"}},
        {"headers": {"Origin": "null", "Sec-Fetch-Site": "cross-site"}},
        {"headers": {"Sec-Fetch-Site": "same-site"}},
        {"drop": "form_token"},
        {"other_list_token": True},
    ],
    ids=["origin", "sandboxed-frame", "fetch-same-site", "no-form-token", "token-of-another-list"],
)
def test_foreign_posts_to_the_embed_form_are_403_and_change_nothing(live, engine, attack):
    fields = embed_fields(live)
    if attack.get("other_list_token"):
        fields["form_token"] = embed_fields(live, OTHER)["form_token"]
    fields.pop(attack.get("drop", ""), None)
    before = dump_tables(engine)
    answer = live.post(
        EMBED,
        data={**fields, "email": "victim@example.com"},
        headers=attack.get("headers", {}),
    )
    assert answer.status_code == 403 and "subscribe form" in answer.text
    assert dump_tables(engine) == before and live.outbox() == []


def test_the_embed_post_takes_the_list_from_its_address_not_the_form(live, factory):
    """The hidden `list` field says weekend-digest, the address ai-morning-post: the address wins,
    and the token (of ai-morning-post) must match it."""
    answer = embed_post(live, "ada@example.com", list=OTHER)
    assert answer.status_code == 200
    assert status_of(factory, "ada@example.com") == "pending"
    assert status_of(factory, "ada@example.com", OTHER) is None


def test_hostile_list_slugs_are_404_on_the_embed_routes(live, lists_dir, engine):
    outside = lists_dir.parent / "outside.toml"
    outside.write_text((lists_dir / "weekend-digest.toml").read_text().replace(OTHER, "outside"))
    fields = embed_fields(live)
    before = dump_tables(engine)
    for slug in hostile_slugs(outside):
        path = f"/subscribe/{quote(slug, safe='')}/embed"
        codes = {live.get(path).status_code, live.post(path, data=fields).status_code}
        assert codes == {404}, (slug, codes)
    assert dump_tables(engine) == before


# --- who may frame what ---------------------------------------------------------


def test_only_the_embed_pages_may_be_framed(live):
    assert framing(live.get(EMBED)) == (None, "*")
    assert framing(live.get(EMBED, params={"email": "a@example.com"})) == (None, "*")
    others = {
        "hosted form": live.get(f"/subscribe/{LIST}"),
        "old form address": live.get("/subscribe", params={"list": LIST}),
        "hosted post": live.post("/subscribe", data={**live.form_fields(), "email": "a@b.example"}),
        "hosted foreign post": live.post("/subscribe", data={"email": "a@b.example"}),
        "confirm": live.get("/confirm/not-a-token"),
        "unsubscribe": live.get("/unsubscribe/not-a-token"),
        "manage": live.get("/manage/not-a-token"),
        "health": live.get("/healthz"),
        "not found": live.get("/subscribe/ai-morning-post/embed/more"),
        "not allowed": requests.delete(live.url + EMBED, timeout=30),
        "archive": live.get(f"/archive/{LIST}/2026-11-18"),
    }
    for name, answer in others.items():
        assert framing(answer) == DENIED, (name, answer.status_code, framing(answer))


@pytest.mark.parametrize(
    "origins, ancestors",
    [
        (("https://blog.example",), "https://blog.example"),
        (
            ("https://blog.example", "http://localhost:8080"),
            "https://blog.example http://localhost:8080",
        ),
        (("*",), "*"),
    ],
)
def test_embed_origins_name_the_sites_that_may_frame(serve, origins, ancestors):
    live = serve(settings_changes={"embed_origins": origins})
    assert framing(live.get(EMBED)) == (None, ancestors)
    assert framing(embed_post(live, "ada@example.com")) == (None, ancestors)
    assert framing(live.get(f"/subscribe/{LIST}")) == DENIED


def test_embed_origins_none_frames_nothing_and_the_form_still_works(serve, factory):
    live = serve(settings_changes={"embed_origins": ("none",)})
    assert framing(live.get(EMBED)) == DENIED
    answer = embed_post(live, "ada@example.com")
    assert answer.status_code == 200 and framing(answer) == DENIED
    assert status_of(factory, "ada@example.com") == "pending"


# --- the prefill of a GET -------------------------------------------------------


@pytest.mark.parametrize("path", [f"/subscribe/{LIST}", EMBED])
def test_a_get_fills_in_the_address_and_name_escaped_and_cut(live, engine, path):
    before = dump_tables(engine)
    plain = live.get(path, params={"email": "ada@example.com", "name": "Ada Lovelace"})
    assert form_inputs(plain.text)["email"]["value"] == "ada@example.com"
    assert form_inputs(plain.text)["name"]["value"] == "Ada Lovelace"

    hostile = live.get(path, params={"email": HOSTILE, "name": HOSTILE})
    assert hostile.status_code == 200
    fields = form_inputs(hostile.text)
    assert fields["email"]["value"] == HOSTILE and fields["name"]["value"] == HOSTILE
    doc = lxml.html.fromstring(hostile.text)
    assert doc.xpath("//script") == [] and doc.xpath("//img") == []
    assert "<script>" not in hostile.text and "&#34;&gt;&lt;script&gt;" in hostile.text

    long = live.get(path, params={"email": "a" * 5000 + "@example.com", "name": "n" * 5000})
    assert len(form_inputs(long.text)["email"]["value"]) == 320
    assert len(form_inputs(long.text)["name"]["value"]) == 200

    # the hidden fields are the server's whatever the query says
    forged = live.get(path, params={"list": OTHER, "form_token": "forged", "website": "x"})
    hidden = form_inputs(forged.text)
    assert hidden["list"]["value"] == LIST and hidden["form_token"]["value"] != "forged"
    assert "value" not in hidden["website"] or hidden["website"]["value"] == ""
    assert dump_tables(engine) == before and live.outbox() == []


def test_the_old_form_address_keeps_the_prefill_through_its_redirect(live):
    for query, slug in (({"list": OTHER}, OTHER), ({}, LIST)):
        answer = live.get("/subscribe", params={**query, "email": HOSTILE, "name": "Zoë & Co"})
        assert answer.status_code == 302
        target = urlsplit(answer.headers["Location"])
        assert target.path == f"/subscribe/{slug}"
        assert parse_qs(target.query) == {"email": [HOSTILE], "name": ["Zoë & Co"]}
        landed = live.get(f"{target.path}?{target.query}")
        assert form_inputs(landed.text)["email"]["value"] == HOSTILE
        assert form_inputs(landed.text)["name"]["value"] == "Zoë & Co"
    bare = live.get("/subscribe", params={"list": LIST})
    assert urlsplit(bare.headers["Location"]).query == ""  # no empty ?email= added
    cut = live.get("/subscribe", params={"email": "a" * 5000})
    assert parse_qs(urlsplit(cut.headers["Location"]).query) == {"email": ["a" * 320]}


# --- the setting -----------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("*", ("*",)),
        ("none", ("none",)),
        ("https://Blog.Example/", ("https://blog.example",)),
        (
            "https://blog.example, http://127.0.0.1:8080",
            ("https://blog.example", "http://127.0.0.1:8080"),
        ),
        ("https://[::1]:8443", ("https://[::1]:8443",)),
        ("https://xn--mrning-jua.example", ("https://xn--mrning-jua.example",)),
    ],
)
def test_embed_origins_are_read_from_the_environment(raw, expected):
    settings = load_settings(environ={"MAILER_EMBED_ORIGINS": raw}, config_file=None)
    assert settings.embed_origins == expected


def test_embed_origins_default_to_any_site_and_read_a_toml_list(tmp_path):
    assert load_settings(environ={}).embed_origins == ("*",)
    config = tmp_path / "mailer.toml"
    config.write_text('embed_origins = ["https://blog.example", "https://shop.example:8443"]\n')
    settings = load_settings(environ={}, config_file=config)
    assert settings.embed_origins == ("https://blog.example", "https://shop.example:8443")


BAD_ORIGINS = [
    "blog.example",
    "https://blog.example; script-src *",
    "https://blog.example 'unsafe-inline'",
    "https://blog.example/path",
    "https://blog.example?x=1",
    "https://user@blog.example",
    "ftp://blog.example",
    "https://blog.example:99999",
    "https://blog.example:",
    "https://*.example",
    "https://mörning.example",
    "*, https://blog.example",
    "'self'",
    ",",
]


@pytest.mark.parametrize("raw", BAD_ORIGINS)
def test_a_bad_embed_origin_is_one_line_naming_the_setting(raw, tmp_path):
    with pytest.raises(ConfigError) as env_error:
        load_settings(environ={"MAILER_EMBED_ORIGINS": raw})
    config = tmp_path / "mailer.toml"
    config.write_text(f"embed_origins = [{', '.join(repr(v) for v in raw.split(','))}]\n")
    with pytest.raises(ConfigError) as file_error:
        load_settings(environ={}, config_file=config)
    for error, name in ((env_error, "MAILER_EMBED_ORIGINS"), (file_error, "'embed_origins'")):
        [line] = str(error.value).splitlines()
        assert name in line and "https://blog.example" in line, line


def test_serve_with_a_bad_embed_origin_stops_at_start_with_one_line(tmp_path, database_url):
    result = mailer(
        tmp_path,
        "serve",
        "--port",
        "0",
        env={
            "DATABASE_URL": database_url,
            "MAILER_EMBED_ORIGINS": "https://blog.example; frame-ancestors *",
            "MAILER_LISTS_DIR": str(REPO / "lists"),
        },
    )
    assert result.returncode != 0 and "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "MAILER_EMBED_ORIGINS" in line and "not an origin" in line, line


# --- `mailer subscribers embed` -------------------------------------------------


def embed_code(tmp_path, base_url: str, lists_dir, origins: str = "") -> str:
    env = {"MAILER_BASE_URL": base_url, "MAILER_LISTS_DIR": str(lists_dir)}
    if origins:
        env["MAILER_EMBED_ORIGINS"] = origins
    result = mailer(tmp_path, "subscribers", "embed", "--list", LIST, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_embed_command_prints_the_iframe_and_the_plain_form(tmp_path, lists_dir):
    (lists_dir / f"{LIST}.toml").write_text(
        (lists_dir / f"{LIST}.toml")
        .read_text()
        .replace('name = "The AI Morning Post"', 'name = "Ben & Jerry\'s \\"Post\\" <b>"')
    )
    code = embed_code(tmp_path, "https://news.example", lists_dir, "https://blog.example")
    doc = lxml.html.fragment_fromstring(code, create_parent="div")
    [frame] = doc.xpath("//iframe")
    assert frame.get("src") == f"https://news.example{EMBED}"
    assert frame.get("title") == 'Subscribe to Ben & Jerry\'s "Post" <b>'
    assert frame.get("sandbox") is None and doc.xpath("//b") == []
    [form] = doc.xpath("//form")
    assert (
        form.get("method") == "get"
        and form.get("action") == f"https://news.example/subscribe/{LIST}"
    )
    assert [i.get("name") for i in form.iter("input")] == ["email"]
    assert "https://blog.example" in code  # says who may frame it


def test_the_readme_shows_what_the_embed_command_prints(tmp_path):
    code = embed_code(tmp_path, "https://news.example.com", REPO / "lists")
    assert code in (REPO / "README.md").read_text(encoding="utf-8")


def test_the_embed_command_names_the_lists_when_it_needs_one(tmp_path, lists_dir):
    result = mailer(tmp_path, "subscribers", "embed", env={"MAILER_LISTS_DIR": str(lists_dir)})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "--list" in result.stderr and OTHER in result.stderr
    unknown = mailer(
        tmp_path,
        "subscribers",
        "embed",
        "--list",
        "nope",
        env={"MAILER_LISTS_DIR": str(lists_dir)},
    )
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1 and "nope" in unknown.stderr


# --- in Chromium: another site, and our pages in its frame -----------------------


class OtherSite:
    """Pages of another site: a second HTTP server on its own port, reached as http://localhost:port
    (another site than 127.0.0.1, where the app is) or http://127.0.0.1:port (the same site, another
    origin)."""

    def __init__(self):
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not here").encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def put(self, path: str, body: str) -> None:
        self.pages[path] = f'<!doctype html><html lang="en"><title>Their blog</title><body>{body}'

    def close(self):
        self.server.shutdown()
        self.thread.join(5)
        self.server.server_close()


@pytest.fixture
def other_site():
    site = OtherSite()
    yield site
    site.close()


# localhost: a cross-site frame and post, as on a real blog; 127.0.0.1: same site, another origin.
HOSTS = ["localhost", "127.0.0.1"]


def framed_form(page, url: str):
    """Open their page and wait for our form in its one frame (the frame may load lazily)."""
    page.goto(url)
    page.frame_locator("iframe").locator("#email").wait_for()
    return page.locator("iframe").element_handle().content_frame()


def refused_frame(page, url: str) -> str:
    """Open their page and wait for Chromium to say that it blocked our page in the frame
    ("Framing '...' violates the following Content Security Policy directive: ..."); that line."""
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as said:
        page.goto(url)
    frame = page.locator("iframe").element_handle().content_frame()
    frame.wait_for_load_state()
    assert frame.url.startswith("chrome-error://"), frame.url  # Chromium's page, not ours
    assert frame.query_selector("#email") is None
    return said.value.text


def no_sideways_scroll(target) -> bool:
    return target.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def no_scroll_down(target) -> bool:
    return target.evaluate(
        "() => document.documentElement.scrollHeight <= document.documentElement.clientHeight"
    )


@pytest.mark.parametrize("host", HOSTS)
def test_the_framed_form_on_another_site_subscribes(
    browser, live, other_site, lists_dir, tmp_path, factory, host
):
    other_site.put("/post.html", "<h1>A blog post</h1>" + embed_code(tmp_path, live.url, lists_dir))
    page = browser.new_page()
    frame = framed_form(page, other_site.url(host, "/post.html"))
    frame.fill("#email", f"framed.{host}@example.com")
    frame.fill("#name", "Ada")
    frame.click("#subscribe-button")
    frame.wait_for_selector("#heading")
    assert "Check your inbox" in frame.inner_text("#heading")
    assert page.url == other_site.url(host, "/post.html")  # the reader never left their page
    assert no_sideways_scroll(frame)
    [mail] = live.outbox()
    assert mail["To"].addresses[0].addr_spec == f"framed.{host}@example.com"
    assert status_of(factory, f"framed.{host}@example.com") == "pending"
    page.close()


@pytest.mark.parametrize(
    "sandbox, accepted",
    [('sandbox="allow-forms allow-same-origin"', True), ('sandbox="allow-forms"', False)],
    ids=["sandbox-same-origin", "sandbox-opaque"],
)
def test_a_sandboxed_frame_works_only_with_its_own_origin(
    browser, live, other_site, factory, sandbox, accepted
):
    """README: without allow-same-origin the sandboxed frame has no origin; its post is refused."""
    other_site.put("/post.html", f'<iframe src="{live.url}{EMBED}" {sandbox}></iframe>')
    page = browser.new_page()
    frame = framed_form(page, other_site.url("localhost", "/post.html"))
    frame.fill("#email", "sandboxed@example.com")
    frame.click("#subscribe-button")
    frame.wait_for_selector("#heading")
    heading = frame.inner_text("#heading")
    if accepted:
        assert "Check your inbox" in heading and len(live.outbox()) == 1
    else:
        assert "Please use the form on our page" in heading and live.outbox() == []
    assert (status_of(factory, "sandboxed@example.com") == "pending") == accepted
    page.close()


@pytest.mark.parametrize("target", ["/subscribe", EMBED])
@pytest.mark.parametrize("host", HOSTS)
def test_another_sites_own_post_is_refused_even_with_our_token(
    browser, live, other_site, engine, host, target
):
    """Their page copies our form's hidden fields, the valid form token among them: the browser's
    Origin and Sec-Fetch-Site still give it away."""
    hidden = "".join(
        f'<input type="hidden" name="{name}" value="{value}">'
        for name, value in live.form_fields().items()
    )
    other_site.put(
        "/steal.html",
        f'<form method="post" action="{live.url}{target}">{hidden}'
        '<input name="email" id="email"><button id="go">Join</button></form>',
    )
    before = dump_tables(engine)
    page = browser.new_page()
    page.goto(other_site.url(host, "/steal.html"))
    page.fill("#email", "victim@example.com")
    with page.expect_navigation():
        page.click("#go")
    assert page.url == live.url + target
    assert "Please use the form on our page" in page.inner_text("#heading")
    assert dump_tables(engine) == before and live.outbox() == []
    page.close()


def test_the_plain_form_on_another_site_opens_our_page_filled_in(
    browser, live, other_site, lists_dir, tmp_path, factory
):
    other_site.put("/post.html", embed_code(tmp_path, live.url, lists_dir))
    page = browser.new_page()
    page.goto(other_site.url("localhost", "/post.html"))
    page.fill('form[method="get"] input[name="email"]', "plain@example.com")
    with page.expect_navigation():
        page.click('form[method="get"] button')
    assert page.url == f"{live.url}/subscribe/{LIST}?email=plain%40example.com"
    assert page.input_value("#email") == "plain@example.com"
    assert live.outbox() == [] and status_of(factory, "plain@example.com") is None
    page.click("#subscribe-button")
    assert "Check your inbox" in page.inner_text("#heading")
    [mail] = live.outbox()
    assert mail["To"].addresses[0].addr_spec == "plain@example.com"
    assert status_of(factory, "plain@example.com") == "pending"
    page.close()


@pytest.mark.parametrize("path", [f"/subscribe/{LIST}", EMBED, f"/subscribe?list={LIST}"])
def test_a_hostile_prefill_stays_text_in_chromium(browser, live, path):
    # bypass_csp: our CSP would stop the script anyway; without it, only the escaping can
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    sep = "&" if "?" in path else "?"
    page.goto(f"{live.url}{path}{sep}email={quote(HOSTILE)}&name={quote(HOSTILE)}")
    assert page.input_value("#email") == HOSTILE and page.input_value("#name") == HOSTILE
    assert page.evaluate("window.__pwned") is None
    assert page.locator("script").count() == 0 and page.locator("img").count() == 0
    context.close()


@pytest.mark.parametrize(
    "origins, framed",
    [
        (None, True),  # the default: any site
        ("OTHER", True),  # the site itself
        (("https://blog.example",), False),
        (("none",), False),
    ],
    ids=["default-any-site", "listed", "not-listed", "none"],
)
def test_chromium_frames_the_embed_form_only_where_embed_origins_allow(
    browser, serve, other_site, origins, framed
):
    if origins == "OTHER":
        origins = (other_site.url("localhost", ""),)
    live = serve(settings_changes={"embed_origins": origins} if origins else {})
    other_site.put(
        "/post.html", f'<iframe src="{live.url}{EMBED}" width="300" height="420"></iframe>'
    )
    page = browser.new_page()
    url = other_site.url("localhost", "/post.html")
    if framed:
        assert framed_form(page, url).query_selector("#subscribe-button") is not None
    else:
        expected = "'none'" if origins == ("none",) else origins[0]
        assert f'"frame-ancestors {expected}"' in refused_frame(page, url)
    page.close()


@pytest.mark.parametrize(
    "path", [f"/subscribe/{LIST}", "/confirm/not-a-token", f"/subscribe/{LIST}/embed/x"]
)
def test_chromium_frames_no_other_page(browser, live, other_site, path):
    other_site.put("/post.html", f'<iframe src="{live.url}{path}"></iframe>')
    page = browser.new_page()
    said = refused_frame(page, other_site.url("localhost", "/post.html"))
    assert "\"frame-ancestors 'none'\"" in said, said
    page.close()


BUTTONS_JS = """() => [...document.querySelectorAll('button')].map(b =>
    [b.textContent.trim(), window.__contrast.ratio(getComputedStyle(b).color,
                                                  window.__contrast.background(b))])"""


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_embed_pages_fit_a_300_px_frame_and_are_readable_in_both_schemes(
    browser, axe, serve, scheme
):
    live = serve(subscribe_limit=(2, 600.0))  # the error, the accepted post, then 429
    # bypass_csp: the pages' Content-Security-Policy forbids inline scripts, axe-core's included
    context = browser.new_context(
        color_scheme=scheme, bypass_csp=True, viewport={"width": 300, "height": FRAME_HEIGHT}
    )
    page = context.new_page()
    problems: dict[str, list[str]] = {}

    def check(name: str) -> None:
        page.screenshot(path=str(artifacts() / f"{name}-{scheme}.png"), full_page=True)
        found = [
            f"{v['id']}: {v['nodes']}"
            for v in axe_violations(page, axe)
            if v["id"] == "color-contrast"
        ]
        install_ratio(page)
        found += [f"button {t!r} {r:.2f}:1" for t, r in page.evaluate(BUTTONS_JS) if r < 4.5]
        if not no_sideways_scroll(page):
            found.append("scrolls sideways at 300 px")
        if not no_scroll_down(page):  # the iframe tag's height holds every page
            found.append(f"taller than the iframe tag's {FRAME_HEIGHT} px at 300 px wide")
        if found:
            problems[name] = found

    page.goto(live.url + EMBED)
    check("embed-form")
    page.eval_on_selector("#email", "e => e.type = 'text'")  # past the browser's own check
    page.fill("#email", "not an address with a very-long-word-" + "x" * 80)
    page.click("#subscribe-button")
    check("embed-error")
    page.fill("#email", f"fit.{scheme}@example.com")
    page.click("#subscribe-button")
    check("embed-check-your-inbox")
    page.goto(live.url + EMBED)
    page.fill("#email", f"again.{scheme}@example.com")
    page.click("#subscribe-button")
    check("embed-too-many")
    page.goto(live.url + EMBED)
    page.eval_on_selector("input[name=form_token]", "e => e.remove()")
    page.fill("#email", f"foreign.{scheme}@example.com")
    page.click("#subscribe-button")
    assert "Please use the form" in page.inner_text("#heading")
    check("embed-foreign")
    context.close()
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


def artifacts():
    folder = REPO / "test-artifacts" / "web-embed"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
