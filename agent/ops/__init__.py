"""Running the agent as an installed product: systemd notifications, the doctor, releases and upgrades (issue 21)."""
