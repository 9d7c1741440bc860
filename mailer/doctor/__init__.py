"""`mailer doctor`: whether the whole setup works, check by check, with the fix for each
(ARCHITECTURE.md, "The doctor"): settings (settings.py), the SES account (ses_account.py), the
From domains in SES and DNS (domain.py, resolver.py), the events path from SES to the poller
(events.py), the web app (web.py), and a send to the SES mailbox simulator (round_trip.py).
runner.py runs them in that order; check.py is what each one answers.
"""
