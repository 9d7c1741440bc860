"""The newsletter on the web: archive pages, feeds, share cards and the static site
(ARCHITECTURE.md, "The archive")."""
