from mailer.cli import cli

cli(prog_name="mailer")
