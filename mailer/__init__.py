"""mailer: newsletter delivery for The AI Morning Post."""

__version__ = "0.1.0"
