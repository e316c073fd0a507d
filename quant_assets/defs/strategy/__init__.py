"""Strategy group: signals, the target book and tomorrow's recommendations."""
