"""`make demo`: the whole pipeline on the sample list, on any date, without touching issues/.

Everything it writes lives under var/demo/: its database, its outbox, its preview, and (when the
repository has no issue for today) today's issue, scaffolded from the newest shipped one.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "var" / "demo"
LIST = "ai-morning-post"


def run(*args: str, env: dict[str, str]) -> None:
    print("$ mailer " + " ".join(args), flush=True)
    result = subprocess.run([sys.executable, "-m", "mailer", *args], cwd=ROOT, env=env)
    if result.returncode != 0:
        sys.exit(f"demo stopped: `mailer {' '.join(args)}` failed with exit code {result.returncode}")


def todays_issue(today: dt.date) -> Path:
    shipped = ROOT / "issues" / LIST / f"{today}.md"
    if shipped.exists():
        return shipped
    target = DEMO / "issues" / LIST / f"{today}.md"
    if not target.exists():
        latest = max((ROOT / "issues" / LIST).glob("????-??-??.md"))
        text = re.sub(r"^date: .*$", f"date: {today}", latest.read_text(encoding="utf-8"), count=1, flags=re.M)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"scaffolded {target.relative_to(ROOT)} from {latest.relative_to(ROOT)}")
    return target


def main() -> None:
    # MAILER_DEMO_DATE lets the tests prove the demo works on a day with no shipped issue.
    today = dt.date.fromisoformat(os.environ.get("MAILER_DEMO_DATE") or dt.date.today().isoformat())
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"sqlite:///{DEMO / 'mailer.db'}",
        "MAILER_OUTBOX": str(DEMO / "outbox"),
        "MAILER_ISSUES_PATH": os.pathsep.join([str(DEMO / "issues"), str(ROOT / "issues")]),
        "MAILER_LISTS_DIR": str(ROOT / "lists"),
        "MAILER_TRANSPORT": "file",
        # Demo only: a fixed key so links in the demo outbox stay valid across runs. Never use it for real.
        "MAILER_SECRET_KEY": env.get("MAILER_SECRET_KEY") or "demo-only-secret-key-do-not-use-in-production",
    })
    DEMO.mkdir(parents=True, exist_ok=True)
    issue = todays_issue(today)
    run("db", "upgrade", env=env)
    run("subscribers", "import", str(ROOT / "lists" / f"{LIST}.sample.csv"), "--list", LIST, env=env)
    day = today.isoformat()  # what `today` means for this run
    run("preview", "--issue", day, "--list", LIST, "--out", str(DEMO / "preview"), env=env)
    if today == dt.date.today():
        run("send", "--issue", "today", "--list", LIST, env=env)
    else:  # `mailer send` asks before sending an issue dated days away from the real today
        print(f"(the demo runs as of {day}, not today: --yes confirms sending an issue of that date)")
        run("send", "--issue", day, "--list", LIST, "--yes", env=env)
    print()
    print(f"issue:    {issue.relative_to(ROOT)}")
    print(f"messages: {(DEMO / 'outbox' / LIST / today.isoformat()).relative_to(ROOT)}/*.eml")
    print(f"preview:  {(DEMO / 'preview').relative_to(ROOT)}/{LIST}-{today}.html (and .txt)")


if __name__ == "__main__":
    main()
