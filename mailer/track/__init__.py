"""Track: what providers report back (SES events over SQS or SNS), suppression, reports,
reconciliation (ARCHITECTURE.md)."""
