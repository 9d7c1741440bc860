"""Render: an issue to MJML, HTML and text once per issue; its QR code, lint and preview
(ARCHITECTURE.md)."""
