"""The autopilot: a list's issue prepared, sent (canary first) and judged on the list's schedule,
unattended (ARCHITECTURE.md, "Layers and rules": autopilot sits above track, below web and cli).
So far: `plan.py`, what is due when, and `alerts.py`, telling the editors (mail and webhooks);
running the steps is still to come."""
