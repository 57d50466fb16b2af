"""The agent as an installable product: bundle, Debian package, systemd unit, udev rules (issue 21)."""
