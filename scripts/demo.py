"""`make demo`: the whole pipeline on the sample list, on any date, without touching issues/.

Everything it writes lives under var/demo/: its database, its outbox, its preview, and (when the
repository has no issue for today) today's issue, scaffolded from the newest shipped one. At the end
it
prints the lines that point a shell's `mailer` at those files, so that the README's commands (and
`mailer serve --demo`, whose links then match the demo's mails) work on the demo's data.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "var" / "demo"
LIST = "ai-morning-post"
DEMO_KEY = "demo-only-secret-key-do-not-use-in-production"


def run(*args: str, env: dict[str, str]) -> None:
    print("$ mailer " + " ".join(args), flush=True)
    result = subprocess.run([sys.executable, "-m", "mailer", *args], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(
            f"demo stopped: `mailer {' '.join(args)}` failed with exit code {result.returncode}"
        )


def todays_issue(today: dt.date) -> Path:
    shipped = ROOT / "issues" / LIST / f"{today}.md"
    if shipped.exists():
        return shipped
    target = DEMO / "issues" / LIST / f"{today}.md"
    if not target.exists():
        latest = max((ROOT / "issues" / LIST).glob("????-??-??.md"))
        text = re.sub(
            r"^date: .*$", f"date: {today}", latest.read_text(encoding="utf-8"), count=1, flags=re.M
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"scaffolded {target.relative_to(ROOT)} from {latest.relative_to(ROOT)}")
    return target


def shell_lines(env: dict[str, str]) -> list[str]:
    """What to paste into a shell: the venv this demo ran in, and the demo's settings (a secret key
    the
    shell already has is not printed)."""
    lines = []
    activate = Path(sys.prefix) / "bin" / "activate"
    if sys.prefix != sys.base_prefix and activate.exists():
        shown = activate.relative_to(ROOT) if activate.is_relative_to(ROOT) else activate
        lines.append(f". {shlex.quote(str(shown))}")
    for name in SETTINGS:
        if name != "MAILER_SECRET_KEY" or env[name] == DEMO_KEY:
            lines.append(f"export {name}={shlex.quote(env[name])}")
    return lines


def audience(day: dt.date) -> str:
    """Why the issue went to fewer people than the sample has: only confirmed subscriptions get
    it."""
    with sqlite3.connect(DEMO / "mailer.db") as db:
        statuses = dict(
            db.execute(
                "SELECT s.status, count(*) FROM subscriptions s JOIN lists l ON l.id = s.list_id "
                "WHERE l.slug = ? GROUP BY s.status",
                (LIST,),
            ).fetchall()
        )
        planned = db.execute(
            "SELECT d.planned_count FROM sends d JOIN issues i ON i.id = d.issue_id JOIN lists l "
            "ON l.id = d.list_id "
            "WHERE l.slug = ? AND i.issue_date = ? ORDER BY d.id DESC LIMIT 1",
            (LIST, day.isoformat()),
        ).fetchone()
    planned = planned[0] if planned else 0
    others = ", ".join(
        f"{count} {status}" for status, count in sorted(statuses.items()) if status != "confirmed"
    )
    why = f": {others} (only confirmed subscribers get an issue)" if others else ""
    left = statuses.get("confirmed", 0) - planned
    suppressed = f"; {left} confirmed but suppressed" if left > 0 else ""
    total = sum(statuses.values())
    return f"{planned} of {total} subscribers on {LIST} were sent the issue{why}{suppressed}"


# The settings the demo runs with: printed as exports at the end, so they are all here.
SETTINGS = (
    "DATABASE_URL",
    "MAILER_OUTBOX",
    "MAILER_ISSUES_PATH",
    "MAILER_LISTS_DIR",
    "MAILER_TRANSPORT",
    "MAILER_SECRET_KEY",
)


def main() -> None:
    # MAILER_DEMO_DATE lets the tests prove the demo works on a day with no shipped issue.
    today = dt.date.fromisoformat(os.environ.get("MAILER_DEMO_DATE") or dt.date.today().isoformat())
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{DEMO / 'mailer.db'}",
            "MAILER_OUTBOX": str(DEMO / "outbox"),
            "MAILER_ISSUES_PATH": os.pathsep.join([str(DEMO / "issues"), str(ROOT / "issues")]),
            "MAILER_LISTS_DIR": str(ROOT / "lists"),
            "MAILER_TRANSPORT": "file",
            # Demo only: a fixed key so links in the demo outbox stay valid across runs (and in the
            # `mailer serve --demo` of a shell with the printed exports). Never use it for real.
            "MAILER_SECRET_KEY": env.get("MAILER_SECRET_KEY") or DEMO_KEY,
        }
    )
    DEMO.mkdir(parents=True, exist_ok=True)
    issue = todays_issue(today)
    run("db", "upgrade", env=env)
    run(
        "subscribers", "import", str(ROOT / "lists" / f"{LIST}.sample.csv"), "--list", LIST, env=env
    )
    day = today.isoformat()  # what `today` means for this run
    run("preview", "--issue", day, "--list", LIST, "--out", str(DEMO / "preview"), env=env)
    if today == dt.date.today():
        run("send", "--issue", "today", "--list", LIST, env=env)
    else:  # `mailer send` asks before sending an issue dated days away from the real today
        print(
            f"(the demo runs as of {day}, not today: --yes confirms sending an issue of that date)"
        )
        run("send", "--issue", day, "--list", LIST, "--yes", env=env)
    run("archive", "build", "--list", LIST, "--out", str(DEMO / "site"), env=env)
    print()
    print(f"issue:    {issue.relative_to(ROOT)}")
    print(f"messages: {(DEMO / 'outbox' / LIST / today.isoformat()).relative_to(ROOT)}/*.eml")
    print(f"preview:  {(DEMO / 'preview').relative_to(ROOT)}/{LIST}-{today}.html (and .txt)")
    print(f"sent:     {audience(today)}")
    print(f"archive:  {(DEMO / 'site').relative_to(ROOT)}/index.html (the static site; served at")
    print(f"          http://127.0.0.1:8000/archive/{LIST}/ by `mailer serve --demo`)")
    print()
    print("To run the README's commands on the demo's data, paste these lines into your shell:")
    print()
    for line in shell_lines(env):
        print(f"    {line}")
    print()
    print("and then, for example:")
    print()
    print(f"    mailer status --issue {day} --list {LIST}")
    print(f"    mailer report --issue {day} --list {LIST}")
    print(
        "    mailer serve --demo       # http://127.0.0.1:8000/subscribe; the links in the demo's "
        "mails work,"
    )
    print(
        "                              # confirmation mails go to "
        f"{(DEMO / 'outbox').relative_to(ROOT)}/confirmations/"
    )


if __name__ == "__main__":
    main()
